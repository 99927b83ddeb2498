import ArgumentParser
import Foundation
import HostCore

/// `host` runs a pipeline unless its first word names one of the commands
/// below: pipelines have their own grammar (steps joined by `+`, free
/// `--key=value` words) that no fixed command-line schema can describe.
@main
enum Main {
    static let commands: Set<String> = ["list-plugins", "help", "cache", "cleanup", "-h", "--help", "--version"]

    static func main() {
        signal(SIGPIPE, SIG_IGN)
        // Ctrl-C or a TERM mid-build: say so and stop. Nothing is published
        // until a step has finished, QEMU dies with host (PR_SET_PDEATHSIG),
        // and the next run sweeps the unfinished machine, so exiting here
        // leaves the cache as it was. Only async-signal-safe calls inside.
        // A blocked mask is inherited across exec (some launchers block
        // these), so unblock what is handled here.
        var handled = sigset_t()
        sigemptyset(&handled)
        for interrupt in [SIGINT, SIGTERM] {
            sigaddset(&handled, interrupt)
            signal(interrupt) { signal in
                let message = "\nhost: interrupted; the cache is as it was before this run\n"
                _ = message.withCString { write(2, $0, strlen($0)) }
                _exit(128 + signal)
            }
        }
        sigprocmask(SIG_UNBLOCK, &handled, nil)
        var words = Array(CommandLine.arguments.dropFirst())
        if words.first == "help", words.count == 2, !commands.contains(words[1]) {
            exit(guarded { try StepHelp.print(words[1]) })
        }
        if words.isEmpty || commands.contains(words[0]) {
            HostCommand.main(words)
            exit(0)
        }
        var output = (quiet: false, verbose: false)
        while let option = words.first, option.hasPrefix("-") {
            switch option {
            case "-q", "--quiet": output.quiet = true
            case "-v", "--verbose": output.verbose = true
            default:
                fail(HostError.usage("unknown option \(option); before the first step host takes --quiet and --verbose (see `host --help`)"))
            }
            words.removeFirst()
        }
        exit(guarded {
            let engine = try Engine(registry: loadPlugins(), cache: .fromEnvironment(),
                                    output: Output(quiet: output.quiet, verbose: output.verbose))
            return try engine.run(words)
        })
    }

    static func loadPlugins() -> PluginRegistry {
        PluginRegistry(searching: PluginRegistry.searchPath())
    }

    /// Runs `body`, printing a HostError as one line and returning its code.
    static func guarded(_ body: () throws -> Int32) -> Int32 {
        do {
            return try body()
        } catch let error as HostError {
            fail(error)
        } catch {
            fail(HostError(.cache, String(describing: error)))
        }
    }

    static func fail(_ error: HostError) -> Never {
        FileHandle.standardError.write(Data("host: error: \(error.message)\n".utf8))
        exit(error.exitCode)
    }
}

struct HostCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "host",
        abstract: "Fresh virtual machines and containers, built once by cached pipeline steps.",
        usage: """
            host [--quiet] [--verbose] STEP [ARGS...] [+ STEP [ARGS...]]...
            host <subcommand>
            """,
        discussion: """
            A pipeline is steps joined by `+`, as in `host os.debian + exec 'uname -a'`. \
            Each step is NAME [POSITIONAL...] [--key=value | --flag | --no-flag]...; \
            `--transient` on any step drops its changes. `host help STEP` shows one step.
            """,
        version: "0.1.0",
        subcommands: [ListPlugins.self, Cache.self, Cleanup.self])
}
