import ChildProcess
import HostModel

extension HostError {
    /// An error of the system's (a file host could not write, say) in host's
    /// words; `context` says what host was doing. Here, not in HostModel:
    /// what an errno means is ChildProcess's to say.
    public init(system error: any Error, _ context: String? = nil) {
        let text = SystemErrorText.describe(error)
        self.init(SystemErrorText.isEnvironment(error) ? .environment : .cache, context.map { "\($0): \(text)" } ?? text)
    }
}
