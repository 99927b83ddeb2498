import ArgumentParser
import Foundation
import HostCore
import HostModel

struct ListPlugins: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list-plugins", abstract: "Show every step of every plugin found, and plugins that failed to load.")

    @Flag(help: "Print JSON for scripts.") var json = false

    func run() throws {
        let registry = Main.loadPlugins(retryFailures: true)
        if json {
            print(try Self.json(registry))
            return
        }
        for step in registry.steps {
            say(StepHelp.headline(step))
            say("    \(step.summary)")
            for parameter in step.parameters { say("    " + StepHelp.describe(parameter)) }
            say("    from \(step.plugin.path) (\(step.plugin.name) \(step.plugin.version))")
        }
        say("\(registry.steps.count) steps from \(registry.plugins.count) plugins")
        if !registry.conflicts.isEmpty {
            say("\nSteps offered twice (neither runs until one is removed):")
            for (name, files) in registry.conflicts.sorted(by: { $0.key < $1.key }) {
                say("  \(name): \(files.joined(separator: ", "))")
            }
        }
        if !registry.failures.isEmpty {
            say("\nPlugins that failed to load:")
            for failure in registry.failures { say("  \(failure.path): \(failure.reason)") }
        }
    }

    static func json(_ registry: PluginIndex) throws -> String {
        let steps: [[String: Any]] = registry.steps.map { step in
            [
                "name": step.name, "kind": step.isBackend ? "backend" : "step", "summary": step.summary,
                "flags": step.flagNames, "expiry_seconds": step.expiry,
                "plugin": step.plugin.name, "plugin_version": step.plugin.version, "file": step.plugin.path,
                "parameters": step.parameters.map { parameter -> [String: Any] in
                    var item: [String: Any] = ["name": parameter.name, "type": parameter.type.rawValue,
                                               "required": parameter.isRequired, "help": parameter.help,
                                               "runtime": parameter.isRuntime, "named_only": parameter.isNamedOnly]
                    if let text = parameter.defaultText { item["default"] = text }
                    if let range = parameter.range { item["minimum"] = range.lowerBound; item["maximum"] = range.upperBound }
                    return item
                },
            ]
        }
        let object: [String: Any] = [
            "steps": steps,
            "failures": registry.failures.map { ["file": $0.path, "reason": $0.reason] },
            "conflicts": registry.conflicts.sorted { $0.key < $1.key }.map { ["step": $0.key, "files": $0.value] },
        ]
        return try JSON.text(object)
    }
}

/// `host help STEP` and the per-step lines of `list-plugins`.
enum StepHelp {
    static func headline(_ step: StepInfo) -> String {
        "\(step.name)  [\(step.isBackend ? "backend" : "step")]  \(step.flagNames.joined(separator: ", "))"
    }

    static func describe(_ parameter: ParameterInfo) -> String {
        let name = parameter.type == .rest ? "\(parameter.name)..." : parameter.type == .kwargs ? "--KEY=VALUE..." : "--\(parameter.name)"
        var line = "\(name) (\(parameter.type)"
        if let range = parameter.range { line += " \(range.lowerBound)...\(range.upperBound)" }
        if let range = parameter.realRange { line += " \(range.lowerBound)...\(range.upperBound)" }
        if parameter.isRequired {
            line += ", required"
        } else if let text = parameter.defaultText, parameter.type != .list, parameter.type != .rest {
            line += ", default \(text.isEmpty ? "\"\"" : text)"
        }
        if parameter.isRuntime { line += ", run-time only" }
        if parameter.isNamedOnly { line += ", named only" }
        line += ")"
        return parameter.help.isEmpty ? line : line + "  " + parameter.help
    }

    static func print(_ name: String) throws -> Int32 {
        if name == "from" { // host's own step, not a plugin's
            say("""
                from: start a pipeline on a saved machine, named by `host tag` or pulled from a registry, resumed as it was saved
                kind: host's own step; starts a pipeline
                usage: host from NAME|REF [--keep-authorized-keys] [--tls-verify=false] [+ STEP...]
                  NAME                    a local name (host tag --list)
                  REF                     REGISTRY/REPOSITORY:TAG or @sha256:DIGEST, pulled first when this cache lacks it
                  --keep-authorized-keys  keep the pusher's SSH key in the guest beside yours (default: yours replaces it)
                  --tls-verify=false      do not check the registry's TLS certificate (a plain-HTTP registry you trust)
                """)
            return 0
        }
        let step = try Main.loadPlugins().step(named: name)
        say("\(step.name): \(step.summary)")
        let kept = step.savesNothing ? "it saves no machines, so no step on it is cached or undone"
            : step.isTransient ? "its results are never kept: it runs every time and what it changes is dropped"
            : step.isTransientWhenLast ? "results kept \(step.expiry / 3600) h when a step follows it; as the last step it runs every time"
            : "results kept \(step.expiry / 3600) h"
        say("kind: \(step.isBackend ? "backend" : "step"); \(step.flagNames.joined(separator: ", ")); \(kept)")
        // What positional words fill, in order: required ones bare, optional ones in brackets.
        let positional = step.parameters.filter(\.takesPosition).map { $0.isRequired ? $0.name.uppercased() : "[\($0.name.uppercased())]" }
            + step.parameters.filter { $0.type == .rest }.map { $0.isRequired ? "\($0.name.uppercased())..." : "[\($0.name.uppercased())...]" }
        // A backend makes the machine every later step works on: never transient.
        let transient = step.isBackend ? "" : "[--transient] "
        say("usage: host \(step.startsPipeline ? "" : "... + ")\(step.name) \((positional + [transient + "[--PARAMETER=VALUE...]"]).joined(separator: " "))")
        if !step.parameters.isEmpty {
            say("parameters (positional words fill them in this order):")
            for parameter in step.parameters { say("  " + describe(parameter)) }
        }
        // What the cache key is made of.
        let paths = step.parameters.compactMap { parameter in parameter.dependency.map { "\(parameter.name) by \($0), not its path" } }
        say("depends on: the machine it is given, its arguments" + paths.map { "; " + $0 }.joined()
                    + "; any file it declares as it runs")
        say("from: \(step.plugin.path)")
        if CommandWords.contains(name) {
            say(Main.commands.contains(name)
                ? "also a command: `host \(name)` (see `host \(name) --help`); `host -- \(name) ...` is a pipeline"
                : "also a command word, reserved for a later version of host")
        }
        return 0
    }
}

/// Step names, summaries and help are the plugins' words: shown, never obeyed.
private func say(_ text: String) { print(TerminalText.escaped(text)) }
