import ChildProcess
import Glibc

/// host started without waiting (Sandbox.start), through Command: what the
/// tests ask of the run, in the words of Foundation's Process, which the
/// tests were first written against.
final class HostRun: @unchecked Sendable {
    enum Reason { case exit, uncaughtSignal }

    private let child: RunningChild

    init(_ child: RunningChild) { self.child = child }

    var processIdentifier: pid_t { child.pid }
    var isRunning: Bool { child.isRunning }
    func waitUntilExit() { child.wait() }
    /// Signals it unless it was reaped already (its pid may be another's by then).
    func kill(_ signal: Int32 = SIGKILL) { child.kill(signal) }

    /// The exit status, or the number of the signal that ended it (as Process has it).
    var terminationStatus: Int32 {
        switch child.wait() {
        case let .exited(status): status
        case let .killed(signal): signal
        case .timedOut: SIGKILL
        }
    }

    var terminationReason: Reason {
        if case .killed = child.wait() { return .uncaughtSignal }
        return .exit
    }
}
