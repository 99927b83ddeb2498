import ArgumentParser
import ChildProcess
import Foundation
import HostCore
import HostModel
import Trace

/// `host` runs a pipeline unless its first word names one of the commands
/// below: pipelines have their own grammar (steps joined by `+`, free
/// `--key=value` words) that no fixed command-line schema can describe.
/// Every usage error, the argument parser's or host's own, is one
/// `host: error: ...` line and exit 64.
@main
enum Main {
    /// The command words (CommandWords, host_plugin.h) this host implements;
    /// `from` starts a pipeline and the others are reserved for commands to come.
    static let commands: Set<String> = Set(HostCommand.configuration.subcommands.compactMap { $0.configuration.commandName } + ["help"])

    static func main() {
        Trace.start()
        // Started with a standard descriptor closed (`host ... <&-`), the next
        // file opened would become it: keep 0, 1 and 2 taken.
        while true {
            let fd = open("/dev/null", O_RDWR)
            if fd < 0 { break }
            if fd > 2 { close(fd); break }
        }
        var words = Array(CommandLine.arguments.dropFirst())
        // The plugin scanner child: a plugin that crashes it is the finding.
        if words.first == "__scan-plugins" { PluginScanner.serve(Array(words.dropFirst())) }
        installSignalHandlers()
        CrashReport.install()
        // A named machine's monitor (`host up --name`), started by host itself.
        if words.count == 2, words[0] == "__monitor" { MachineMonitor.serve(words[1], registry: loadPlugins(), location: .fromEnvironment()) }
        var quiet = false, verbose = false, json = false
        var unknown: String?
        while let option = words.first, option.hasPrefix("-"), option != "--" {
            switch option {
            case "-q", "--quiet": quiet = true
            case "-v", "--verbose": verbose = true
            case "--json": json = true
            case "-h", "--help":
                print(HelpText.terminal())
                exit(0)
            case "--version":
                print("host \(HelpText.version)")
                exit(0)
            default:
                // Said after the loop, as JSON when --json came before it.
                unknown = unknown ?? option
            }
            words.removeFirst()
        }
        commandOutput = Output(quiet: quiet, verbose: verbose, json: json)
        if let unknown {
            fail(HostError.usage("unknown option \(unknown); before the first step host takes --quiet, --verbose, --json, --help and --version (see `host --help`)"), quiet: false)
        }
        guard let first = words.first else {
            print(HelpText.terminal())
            exit(0)
        }
        switch first {
        case "__manual": // scripts/setup installs it as man/man1/host.1
            print(HelpText.manual(), terminator: "")
            exit(0)
        case "__complete":
            Completion.candidates(Array(words.dropFirst())) { loadPlugins() }.forEach { print($0) }
            exit(0)
        case "help" where words.count == 1:
            print(HelpText.terminal())
            exit(0)
        case "help" where words.count == 2 && (!commands.contains(words[1]) || loadPlugins().steps.contains { $0.name == words[1] }):
            exit(guarded(quiet: quiet) { try StepHelp.print(words[1]) })
        case _ where commands.contains(first):
            exit(guarded(quiet: quiet) { try runCommand(words) })
        // A step of that name (`host exec`) hears what it needs instead.
        case _ where CommandWords.contains(first) && first != "from" && !loadPlugins().steps.contains(where: { $0.name == first }):
            fail(HostError.usage("`host \(first)` is a command of a later version of host, not of this one (the word is reserved for it); see `host --help` for the commands there are, or write `host -- \(first) ...` for a step of that name"), quiet: quiet)
        default:
            // `host -- STEP ...` is always a pipeline, whatever STEP is named.
            if first == "--" { words.removeFirst() }
            exit(guarded(quiet: quiet) {
                let engine = try Engine(registry: loadPlugins(), cache: .fromEnvironment(),
                                        output: commandOutput)
                return try engine.run(words)
            })
        }
    }

    /// Ctrl-C or a TERM mid-build: say so and stop. Nothing is published
    /// until a step has finished, QEMU dies with host (PR_SET_PDEATHSIG),
    /// and the next run sweeps the unfinished machine, so exiting here
    /// leaves the cache as it was; a terminal a step put in raw mode (the
    /// console) gets its mode back. Only async-signal-safe calls inside.
    /// A blocked mask is inherited across exec (some launchers block
    /// these), so unblock what is handled here.
    private static func installSignalHandlers() {
        signal(SIGPIPE, SIG_IGN)
        terminalAtStart.initialize(to: termios())
        terminalWasSaved = isatty(0) == 1 && tcgetattr(0, terminalAtStart) == 0
        var handled = sigset_t()
        sigemptyset(&handled)
        for interrupt in [SIGINT, SIGTERM] {
            sigaddset(&handled, interrupt)
            signal(interrupt) { signal in
                if terminalWasSaved { tcsetattr(0, TCSANOW, terminalAtStart) }
                let message = "\nhost: interrupted; the cache is as it was before this run\n"
                _ = message.withCString { write(2, $0, strlen($0)) }
                _exit(128 + signal)
            }
        }
        sigprocmask(SIG_UNBLOCK, &handled, nil)
    }

    /// The subcommands, through the argument parser, whose errors are
    /// turned into host's own form.
    private static func runCommand(_ words: [String]) throws -> Int32 {
        do {
            var command = try HostCommand.parseAsRoot(words)
            try command.run()
            return 0
        } catch let error as HostError {
            throw error
        } catch let exit as ExitCode {
            return exit.rawValue // the command said what it had to
        } catch where SystemErrorText.errno(of: error) != nil {
            throw HostError(system: error)
        } catch {
            let code = HostCommand.exitCode(for: error)
            if code == .success {
                print(HostCommand.fullMessage(for: error))
                return 0
            }
            let message = HostCommand.message(for: error).trimmingCharacters(in: .whitespacesAndNewlines)
            guard code == .validationFailure else { throw HostError(.cache, message) }
            throw HostError.usage("\(message) (see `host \(words[0]) --help`)")
        }
    }

    /// The installed plugins, from the plugin index; `retryFailures` tries
    /// again those that failed for a cause outside their file.
    static func loadPlugins(retryFailures: Bool = false) -> PluginIndex {
        PluginIndex(searching: PluginIndex.searchPath(), cache: .fromEnvironment(), retryFailures: retryFailures)
    }

    /// Runs `body`, printing a HostError as one line and returning its code.
    static func guarded(quiet: Bool, _ body: () throws -> Int32) -> Int32 {
        do {
            return try body()
        } catch let error as HostError {
            fail(error, quiet: quiet)
        } catch {
            fail(HostError(system: error), quiet: quiet)
        }
    }

    /// With --quiet, a step that failed with its own command's status (exec,
    /// script.test) says nothing more: the status is the answer.
    static func fail(_ error: HostError, quiet: Bool) -> Never {
        if commandOutput.json {
            commandOutput.report(RunEvent(.error, message: error.message, exit: error.exitCode))
        } else if !(quiet && error.kind == .stepFailed && error.status != nil) {
            StandardStream.error.write("host: error: \(TerminalText.escaped(error.message))\n")
        }
        exit(error.exitCode)
    }
}

/// Where the commands that run pipelines (push, tag) print progress: as
/// --quiet and --verbose before the command say.
nonisolated(unsafe) var commandOutput = Output()

/// The terminal's mode when host started, for the signal handler (which may
/// touch nothing that allocates).
nonisolated(unsafe) let terminalAtStart = UnsafeMutablePointer<termios>.allocate(capacity: 1)
nonisolated(unsafe) var terminalWasSaved = false

struct HostCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "host",
        abstract: HelpText.summary,
        version: HelpText.version,
        subcommands: [ListPlugins.self, Cache.self, Cleanup.self, Push.self, Pull.self, Tag.self, PluginTemplate.self, CompletionCommand.self,
                      Up.self, Start.self, MachineList.self, Exec.self, SSH.self, Console.self, Copy.self, Logs.self, Stop.self, MachineRemove.self])
}

struct CompletionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "completion", abstract: "Print the shell completion script for bash, zsh or fish.",
        discussion: "bash: host completion bash > ~/.local/share/bash-completion/completions/host (scripts/setup installs it)")

    @Argument(help: "bash, zsh or fish") var shell: String

    func run() throws { print(try Completion.script(for: shell), terminator: "") }
}
