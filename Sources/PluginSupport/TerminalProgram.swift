import Foundation
import PluginKit

/// Runs a program that takes the terminal over (ssh's interactive shell, a
/// console client) the way a shell runs it in the foreground: in host's own
/// process group, which is the terminal's foreground group, so its reads
/// from the terminal are not stopped by SIGTTIN; with default signal
/// dispositions and an empty signal mask (host ignores SIGPIPE, and an
/// inherited "ignore" would survive exec), as every Command gets; and with
/// standard input, output and error the terminal itself. Meanwhile
/// host only notes SIGINT and SIGQUIT, as system(3) ignores them, so Ctrl-C
/// ends the program and not host's teardown; afterwards host restores its
/// handlers and the terminal's mode, however the program ended.
public enum TerminalProgram {
    /// How the program ended, and whether Ctrl-C (or SIGQUIT) reached it.
    public static func run(_ executable: String, _ arguments: [String]) throws -> (ending: Command.Ending, interrupted: Bool) {
        var command = Command(executable, arguments)
        command.input = .terminal
        command.output = .terminal
        command.diesWithHost = true // not left on the terminal should host be killed

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
        let ending = try command.start().wait()
        return (ending, interrupted != 0)
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
