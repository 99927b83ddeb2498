import Foundation

/// host's last words when a plugin crashes it: which plugin file, and which
/// step or backend function it was running. A fatal-signal handler may not
/// allocate, so the sentence is written into a fixed buffer before every
/// call into a plugin, and the handler only writes it out with write(2),
/// then dies of the same signal. Nothing is published mid-step, QEMU dies
/// with host (PR_SET_PDEATHSIG), and the next run sweeps what the dead run
/// left: the cache stays as it was.
public enum CrashReport {
    private static let capacity = 1024
    /// The sentence for the plugin code running now, NUL-terminated; empty
    /// while host's own code runs.
    nonisolated(unsafe) private static let sentence = buffer()
    /// A step's log and where to keep it: the handler links it there
    /// (link(2) is async-signal-safe), since the step's directory goes with
    /// the dead run.
    nonisolated(unsafe) private static let logSource = buffer(), logKept = buffer()

    private static func buffer() -> UnsafeMutablePointer<CChar> {
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: capacity)
        buffer.initialize(repeating: 0, count: capacity)
        return buffer
    }

    /// The signal by number and name, without allocating.
    private static func name(of signal: Int32) -> StaticString {
        switch signal {
        case SIGSEGV: "signal 11, SIGSEGV"
        case SIGBUS: "signal 7, SIGBUS"
        case SIGILL: "signal 4, SIGILL"
        case SIGFPE: "signal 8, SIGFPE"
        case SIGABRT: "signal 6, SIGABRT"
        default: "signal 5, SIGTRAP"
        }
    }

    private static func say(_ text: StaticString) { _ = write(2, text.utf8Start, text.utf8CodeUnitCount) }
    private static func say(_ text: UnsafeMutablePointer<CChar>) { _ = write(2, text, strlen(text)) }

    /// Installs the handler for the signals a crash raises, on a stack of
    /// its own so that a plugin's stack overflow is reported too.
    public static func install() {
        _ = (sentence, logSource, logKept) // made now, not first in a signal handler
        var stack = stack_t()
        stack.ss_size = 1 << 16
        stack.ss_sp = UnsafeMutableRawPointer.allocate(byteCount: stack.ss_size, alignment: 16)
        sigaltstack(&stack, nil)
        for signal in [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { signal in
                if CrashReport.sentence[0] != 0 {
                    CrashReport.say("host: error: ")
                    CrashReport.say(CrashReport.sentence)
                    CrashReport.say(" (")
                    CrashReport.say(CrashReport.name(of: signal))
                    CrashReport.say(")")
                    if CrashReport.logSource[0] != 0, link(CrashReport.logSource, CrashReport.logKept) == 0 {
                        CrashReport.say("; the step's log: ")
                        CrashReport.say(CrashReport.logKept)
                    }
                    CrashReport.say("; the cache is as it was before this run\n")
                }
                Glibc.signal(signal, SIG_DFL)
                raise(signal)
            }
            action.sa_flags = Int32(bitPattern: UInt32(SA_RESETHAND) | UInt32(SA_ONSTACK))
            sigaction(signal, &action, nil)
        }
    }

    /// Runs `body`, a call into plugin code: `what` says which plugin file
    /// and what it was doing, should it crash.
    /// `log`: the step's log, and where to keep it should the step crash.
    static func during<T>(_ what: @autoclosure () -> String, keeping log: (source: String, kept: String)? = nil,
                          _ body: () throws -> T) rethrows -> T {
        let previous = (String(cString: sentence), String(cString: logSource), String(cString: logKept))
        set(TerminalText.escaped("\(what()) crashed"))
        set(log?.source ?? "", into: logSource)
        set(log?.kept ?? "", into: logKept)
        defer { set(previous.0); set(previous.1, into: logSource); set(previous.2, into: logKept) }
        return try body()
    }

    /// Runs `body`, host's own code serving a plugin's call: a crash there
    /// is host's, not the plugin's.
    static func serving<T>(_ body: () throws -> T) rethrows -> T {
        let previous = String(cString: sentence)
        set("")
        defer { set(previous) }
        return try body()
    }

    private static func set(_ text: String, into buffer: UnsafeMutablePointer<CChar> = sentence) {
        guard !text.isEmpty else { buffer[0] = 0; return }
        let bytes = Array(text.utf8.prefix(capacity - 1))
        buffer.withMemoryRebound(to: UInt8.self, capacity: capacity) { target in
            for (index, byte) in bytes.enumerated() { target[index] = byte }
            target[bytes.count] = 0
        }
    }
}
