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
    nonisolated(unsafe) private static let sentence: UnsafeMutablePointer<CChar> = {
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: capacity)
        buffer.initialize(repeating: 0, count: capacity)
        return buffer
    }()

    /// Installs the handler for the signals a crash raises, on a stack of
    /// its own so that a plugin's stack overflow is reported too.
    public static func install() {
        _ = sentence // made now, not first in a signal handler
        var stack = stack_t()
        stack.ss_size = 1 << 16
        stack.ss_sp = UnsafeMutableRawPointer.allocate(byteCount: stack.ss_size, alignment: 16)
        sigaltstack(&stack, nil)
        for signal in [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { signal in
                if CrashReport.sentence[0] != 0 {
                    let prefix = "\nhost: error: "
                    _ = prefix.withCString { write(2, $0, strlen($0)) }
                    _ = write(2, CrashReport.sentence, strlen(CrashReport.sentence))
                    let suffix = "; the cache is as it was before this run\n"
                    _ = suffix.withCString { write(2, $0, strlen($0)) }
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
    static func during<T>(_ what: @autoclosure () -> String, _ body: () throws -> T) rethrows -> T {
        let previous = String(cString: sentence)
        set(TerminalText.escaped("\(what()) crashed"))
        defer { set(previous) }
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

    private static func set(_ text: String) {
        guard !text.isEmpty else { sentence[0] = 0; return }
        let bytes = Array(text.utf8.prefix(capacity - 1))
        sentence.withMemoryRebound(to: UInt8.self, capacity: capacity) { target in
            for (index, byte) in bytes.enumerated() { target[index] = byte }
            target[bytes.count] = 0
        }
    }
}
