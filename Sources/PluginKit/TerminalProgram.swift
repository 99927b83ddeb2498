import Foundation

/// Runs a program that takes the terminal over (ssh's interactive shell, a
/// console client) the way a shell runs it in the foreground: in host's own
/// process group, which is the terminal's foreground group, so its reads
/// from the terminal are not stopped by SIGTTIN; with default signal
/// dispositions and an empty signal mask (host ignores SIGPIPE, and an
/// inherited "ignore" would survive exec); and with standard input, output
/// and error the terminal itself, every other descriptor closed. Meanwhile
/// host only notes SIGINT and SIGQUIT, as system(3) ignores them, so Ctrl-C
/// ends the program and not host's teardown; afterwards host restores its
/// handlers and the terminal's mode, however the program ended.
public enum TerminalProgram {
    public enum Ending: Equatable, Sendable {
        case exited(Int32)
        case killed(signal: Int32)

        /// The status a shell would report: 128+N when killed by signal N.
        public var status: Int32 {
            switch self {
            case let .exited(status): status
            case let .killed(signal): 128 + signal
            }
        }
    }

    /// How the program ended, and whether Ctrl-C (or SIGQUIT) reached it.
    public static func run(_ executable: String, _ arguments: [String]) throws -> (ending: Ending, interrupted: Bool) {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var all = sigset_t(), none = sigset_t()
        sigfillset(&all)
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // glibc 2.34 has it, but Swift's Glibc module does not declare it.
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        if let closeFrom = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") {
            _ = unsafeBitCast(closeFrom, to: CloseFrom.self)(&actions, 3)
        }

        let terminal = TerminalMode.save()
        var note = sigaction(), savedInterrupt = sigaction(), savedQuit = sigaction()
        interrupted = 0
        note.__sigaction_handler.sa_handler = { _ in interrupted = 1 }
        sigaction(SIGINT, &note, &savedInterrupt)
        sigaction(SIGQUIT, &note, &savedQuit)
        defer {
            terminal?.restore()
            sigaction(SIGINT, &savedInterrupt, nil)
            sigaction(SIGQUIT, &savedQuit, nil)
        }

        var pid = pid_t()
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard spawned == 0 else {
            throw StepError("could not start \(executable): \(String(cString: strerror(spawned)))")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw StepError("lost track of \(executable): \(String(cString: strerror(errno)))") }
        }
        // WIFEXITED and friends are macros Swift cannot import.
        let signal = status & 0x7f
        return (signal == 0 ? .exited((status >> 8) & 0xff) : .killed(signal: signal), interrupted != 0)
    }
}

/// Set by the handler while a terminal program runs: a plain word, which a
/// signal handler may write.
nonisolated(unsafe) private var interrupted: sig_atomic_t = 0

/// The terminal's mode (raw or cooked, echo) as it was, to put back.
public struct TerminalMode {
    private let saved: termios

    /// nil when standard input is not a terminal.
    public static func save() -> TerminalMode? {
        var mode = termios()
        guard isatty(0) == 1, tcgetattr(0, &mode) == 0 else { return nil }
        return TerminalMode(saved: mode)
    }

    public func restore() {
        var mode = saved
        tcsetattr(0, TCSANOW, &mode)
    }

    /// Keys reach the reader as typed, Ctrl-C and Ctrl-] included, unechoed.
    public func makeRaw() {
        var raw = saved
        cfmakeraw(&raw)
        tcsetattr(0, TCSANOW, &raw)
    }
}
