import Foundation
import HostCore
import HostModel

/// Shell completion. The scripts are thin: they hand the words typed so far
/// to `host __complete`, which answers from the plugins installed at that
/// moment (subcommands, step names, each step's --parameters), one
/// candidate per line. A candidate ending in `=` wants its value next, so
/// the shell adds no space after it.
enum Completion {
    static let shells = ["bash", "zsh", "fish"]

    static func script(for shell: String) throws -> String {
        switch shell {
        case "bash":
            return """
                # bash completion for host; `host completion bash` prints it.
                _host() {
                    local -a words
                    if [[ -n ${COMP_LINE-} ]]; then
                        # What was typed, split at spaces only: bash's own word breaks
                        # would cut --name=value at the = and host:port at the colon.
                        local line=${COMP_LINE:0:COMP_POINT}
                        IFS=' ' read -r -a words <<< "$line"
                        [[ $line == *' ' ]] && words+=("")
                    else
                        words=("${COMP_WORDS[@]:0:COMP_CWORD+1}")
                    fi
                    local IFS=$'\n'
                    COMPREPLY=($(command host __complete "${words[@]:1}" 2>/dev/null))
                    if [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *= ]]; then
                        compopt -o nospace 2>/dev/null
                    fi
                }
                complete -F _host host

                """
        case "zsh":
            return """
                #compdef host
                # zsh completion for host; `host completion zsh` prints it.
                _host() {
                    local -a candidates
                    candidates=("${(@f)$(command host __complete "${(@)words[2,CURRENT]}" 2>/dev/null)}")
                    local -a spaced unspaced
                    local c
                    for c in $candidates; do
                        [[ -z $c ]] && continue
                        if [[ $c == *= ]]; then unspaced+=("$c"); else spaced+=("$c"); fi
                    done
                    (( $#spaced )) && compadd -Q -- $spaced
                    (( $#unspaced )) && compadd -Q -S '' -- $unspaced
                }
                if [[ $zsh_eval_context[-1] == loadautofunc ]]; then _host "$@"; else compdef _host host; fi

                """
        case "fish":
            return """
                # fish completion for host; `host completion fish` prints it.
                function __host_complete
                    set -l words (commandline -opc)
                    set -e words[1]
                    command host __complete $words (commandline -ct) 2>/dev/null
                end
                complete -c host -f -a '(__host_complete)'

                """
        default:
            throw HostError.usage("host completion knows \(shells.joined(separator: ", ")), not \(shell); write `host completion bash`")
        }
    }

    /// The command words this host has, in the table's order (`from` starts a pipeline).
    static let subcommands = CommandWords.all.filter { Main.commands.contains($0) || $0 == "from" }
    static let globalOptions = ["--quiet", "--verbose", "--json", "--help", "--version"]

    /// Candidates for the last of `words` (the words after `host`, the last
    /// one being typed, possibly empty).
    static func candidates(_ words: [String], registry: () -> PluginIndex) -> [String] {
        var words = words
        let current = words.popLast() ?? ""
        guard !current.contains("=") else { return [] } // values are the user's own
        while let first = words.first, ["-q", "--quiet", "-v", "--verbose", "--json"].contains(first) { words.removeFirst() }
        guard let first = words.first else {
            let steps = registry().steps.filter(\.startsPipeline).map(\.name)
            return matching(current, current.hasPrefix("-") ? globalOptions : subcommands + steps)
        }
        switch first {
        case "list-plugins": return matching(current, ["--json"])
        case "help": return words.count == 1 ? matching(current, registry().steps.map(\.name)) : []
        case "cache": return matching(current, words.count == 1 ? ["ls", "verify", "rm"] : ["--json", "--all"])
        case "cleanup":
            if words.count == 1 { return matching(current, ["machines", "downloads", "logs", "everything", "periodic"]) }
            return matching(current, words.count == 2 && words[1] == "machines" ? ["all", "expired", "--json"] : ["--json"])
        case "completion": return words.count == 1 ? matching(current, shells) : []
        case "pull": return current.hasPrefix("-") ? matching(current, ["--tls-verify=false"]) : []
        case "from" where words.count == 1:
            return current.hasPrefix("-") ? matching(current, ["--keep-authorized-keys", "--tls-verify=false"]) : matching(current, CacheAdmin.tagNames())
        case "tag" where words.count == 1 && current.hasPrefix("-"): return matching(current, ["--list", "--delete"])
        case "tag" where words.count == 2 && words[1] == "--delete": return matching(current, CacheAdmin.tagNames())
        case "plugin-template" where words.count == 1: return matching(current, ["c", "swift"])
        case "plugin-template": return []
        case "push" where words.count == 1 && current.hasPrefix("-"): return matching(current, ["--tls-verify=false"])
        case "exec" where words.count == 1, "ssh" where words.count == 1, "console" where words.count == 1, "logs" where words.count == 1,
             "stop", "start", "rm":
            return current.hasPrefix("-") ? matching(current, ["--follow", "--force", "--all"]) : matching(current, machineNames())
        case "exec", "ssh", "console", "logs": return []
        case "cp": return matching(current, machineNames().map { $0 + ":" })
        case "up" where !words.contains(where: { $0.hasPrefix("--name") }):
            return current.hasPrefix("-") ? matching(current, ["--name=", "--foreground"]) : matching(current, machineNames())
        case "up":
            // `up --name=NAME PIPELINE`: the pipeline's words follow the command's own.
            let own = words.dropFirst().prefix { $0.hasPrefix("-") }.count + 1
            return candidates(Array(words.dropFirst(own)) + [current], registry: registry)
        case "push", "tag":
            // `push REF PIPELINE`, `tag NAME PIPELINE`: the pipeline's words follow the command's own.
            let own = words.dropFirst().prefix { $0.hasPrefix("-") }.count + 2
            guard words.count >= own else { return [] }
            return candidates(Array(words.dropFirst(own)) + [current], registry: registry)
        default: break
        }
        // In a pipeline: the step being written is the one after the last `+`.
        let segments = words.split(separator: "+", omittingEmptySubsequences: false)
        let all = registry()
        guard let name = segments.last?.first else {
            // A step name after `+`: never a backend; an OS step only right after one.
            let afterBackend = segments.count == 2 && (segments[0].first.flatMap { try? all.step(named: $0) }?.isBackend ?? false)
            return matching(current, all.steps.filter { !$0.isBackend && (!$0.startsPipeline || afterBackend) }.map(\.name))
        }
        let segment = segments.last ?? []
        guard current.hasPrefix("-"), !segment.contains("--"), let step = try? all.step(named: name) else { return [] }
        var options = ["--transient"]
        for parameter in step.parameters where parameter.type != .rest && parameter.type != .kwargs {
            options += parameter.type == .bool ? ["--\(parameter.name)", "--no-\(parameter.name)"] : ["--\(parameter.name)="]
        }
        return matching(current, options)
    }

    private static func machineNames() -> [String] { NamedMachines(location: .fromEnvironment()).names() }

    private static func matching(_ prefix: String, _ candidates: [String]) -> [String] {
        candidates.filter { $0.hasPrefix(prefix) }
    }
}
