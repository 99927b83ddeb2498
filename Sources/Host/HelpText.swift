import Foundation
import HostCore

/// What `host --help` says, and the same words as the man page host(1):
/// one text, two renderings, so they never disagree.
enum HelpText {
    static let version = hostVersion
    static let summary = "fresh virtual machines and containers, built once by cached pipeline steps"

    static let synopsis = [
        "host [--quiet | --verbose | --json] STEP [ARGS...] [+ STEP [ARGS...]]...",
        "host from NAME|REF [--keep-authorized-keys] [+ STEP [ARGS...]]...",
        "host push [--tls-verify=false] REF PIPELINE...",
        "host pull [--tls-verify=false] REF",
        "host tag NAME PIPELINE... | --list [--json] | --delete NAME",
        "host up --name=NAME [--foreground] PIPELINE... | up NAME...",
        "host ls [--json] | exec NAME [-i] [-t] -- CMD... | ssh NAME [-- CMD...] | console NAME | logs [--follow] NAME",
        "host cp SRC NAME:DST | cp NAME:SRC DST | stop NAME...|--all | start NAME... | rm [--force] NAME...",
        "host list-plugins [--json]",
        "host help STEP",
        "host cache ls [--json] | verify [--all] [--json] | rm KEY|PIPELINE...",
        "host cleanup machines [all | expired] | downloads | logs | everything | periodic [--json]",
        "host plugin-template c|swift NAME",
        "host completion bash | zsh | fish",
    ]

    static let description = """
        A pipeline is steps joined by `+`. The first step makes a machine (a backend such as \
        backend.qemu, or an operating system such as os.debian on the default backend); every \
        later step takes the machine and either returns it, and host caches the result as a live \
        snapshot, or returns nothing (a transient step: its changes are dropped). Running the same \
        pipeline again restores the last cached machine instead of redoing the work. Each step is \
        NAME [POSITIONAL...] [--key=value | --flag | --no-flag]...; a repeated --key makes a list; \
        after `--` every word is positional; `++` stands for a literal `+` word. `--transient` on \
        any step drops its changes. host's own messages go to standard error; standard output \
        belongs to the steps.
        """

    typealias Item = (name: String, meaning: String)

    static let commands: [Item] = [
        ("STEP [ARGS...] [+ STEP...]", "run a pipeline"),
        ("from NAME|REF [+ STEP...]", "start a pipeline on a machine named by `host tag`, or pulled from a registry (pulled first if need be), resumed as it was saved; the puller's SSH key replaces the pusher's unless --keep-authorized-keys"),
        ("push REF PIPELINE...", "build the pipeline (or reuse the cache) and push the live machine, with every cached step it was built on, to an OCI registry through skopeo"),
        ("pull REF", "fetch a pushed machine into the cache, every layer checked against its digest; what is here already is not fetched"),
        ("tag NAME PIPELINE...", "build the pipeline (or reuse the cache) and name its machine, for `host from NAME`; --list, --delete NAME"),
        ("up --name=NAME PIPELINE...", "build the pipeline (or reuse the cache), restore its machine and keep it running in the background under NAME, after host returns; `up NAME...` starts stopped ones where they were saved"),
        ("ls [--json]", "named machines: state (running, stopped, dead and why), backend, uptime, memory (PSS), pipeline"),
        ("exec NAME [-i] [-t] -- CMD...", "run a command in a running named machine, its output streamed, its status host's; -i passes standard input, -t a terminal"),
        ("ssh NAME [-- CMD...]", "an SSH session into a running named machine"),
        ("console NAME", "its serial console on this terminal; Ctrl-] detaches"),
        ("cp SRC NAME:DST, cp NAME:SRC DST", "copy files and trees into or out of a running named machine"),
        ("logs [--follow] NAME", "its console output (the last 256 KiB to 1 MiB)"),
        ("stop NAME...|--all", "save running named machines whole (RAM, devices, disk; processes alive) and end them"),
        ("start NAME...", "start stopped named machines where they were saved, as `up NAME`"),
        ("rm [--force] NAME...", "forget named machines and what their stops saved; --force ends a running one unsaved"),
        ("list-plugins [--json]", "every step of every installed plugin, and plugins that failed to load"),
        ("help STEP", "one step: what it does and its parameters"),
        ("cache ls [--json]", "cached machines: key, size, age, expiry, pipeline"),
        ("cache verify [--all]", "check saved machines' files against their recorded sizes and SHA-256 digests"),
        ("cache rm KEY|PIPELINE...", "remove the machines named (a key or its first 4+ characters, or a pipeline as `cache ls` shows it) and every machine built on them"),
        ("cleanup machines [all|expired]", "remove cached machines (default: expired ones); never one another run uses, nor a named one (and those it was built on) without --tagged"),
        ("cleanup downloads", "remove downloaded images (cloud images, kept across pipelines) and empty the package cache"),
        ("cleanup logs", "remove the logs kept of failed steps"),
        ("cleanup everything", "all of the above"),
        ("cleanup periodic", "expired machines, then the least recently used leaves until the cache fits HOST_CACHE_MAX; host runs it itself in the background at most once a day"),
        ("plugin-template c|swift NAME", "write a starting plugin in ./NAME/ and print the command that builds it into your own plugin directory"),
        ("completion bash|zsh|fish", "print the shell completion script (scripts/setup installs it)"),
    ]

    static let options: [Item] = [
        ("-q, --quiet", "print no progress, only the steps' output and errors (exec's own failure status is not repeated)"),
        ("-v, --verbose", "also print the steps' debug log lines"),
        ("--json", "print host's own lines as JSON objects, one per line on standard error: which steps were reused, built or rebuilt and why, and errors"),
        ("-h, --help", "show this help"),
        ("--version", "show host's version"),
    ]

    static let environment: [Item] = [
        ("HOST_CACHE_DIR", "where host keeps cached machines, downloads, keys and logs (default: $XDG_CACHE_HOME/host, else ~/.cache/host)"),
        ("HOST_PLUGIN_PATH", "directories searched for plugins (*.so), separated by `:`, after BIN/../lib/host/plugins and before $XDG_CONFIG_HOME/host/plugins (else ~/.config/host/plugins: a user's own) and ~/.local/lib/host/plugins; of two plugins with one name, the one found first loads"),
        ("HOST_CACHE_MAX", "the size `cleanup periodic` keeps the machine cache within, like 50G (the default), 512M or 2T"),
        ("HOST_PACKAGE_CACHE", "`off`: no shared package cache (apt-cacher-ng) for mmdebstrap and the guests' apt"),
        ("HOST_DEFAULT_BACKEND", "the backend a pipeline runs on when its first step is not one (default: backend.qemu)"),
        ("HOST_QEMU_ACCEL", "tcg or kvm: skip backend.qemu's KVM probe and use this accelerator"),
        ("HOST_CRIU", "the criu program backend.podman-criu uses, or `none` to save containers without their processes"),
        ("HOST_DEBIAN_MIRROR", "os.debian's Debian mirror (default: mmdebstrap's)"),
        ("HOST_FEDORA_MIRROR", "os.fedora's mirror (default: https://download.fedoraproject.org/pub/fedora/linux)"),
        ("HOST_ALPINE_MIRROR", "os.alpine's mirror (default: https://dl-cdn.alpinelinux.org/alpine)"),
        ("HOST_UBUNTU_MIRROR", "os.ubuntu's mirror (default: https://cloud-images.ubuntu.com)"),
        ("XDG_RUNTIME_DIR", "where transient machines live while they run (default: /dev/shm)"),
    ]

    static let examples: [Item] = [
        ("host os.debian + ssh", "install Debian once, then get a root shell in a fresh copy of it within seconds"),
        ("host os.debian + ansible package --name=patch --state=present + exec 'patch --version'",
         "install a package with ansible (cached), then run a command in a throwaway copy"),
        ("host push registry.example/team/debian-patch:1 os.debian + ansible package --name=patch",
         "share a prepared machine; a colleague runs `host from registry.example/team/debian-patch:1 + ssh`"),
        ("host backend.qemu --ram=2G --forward=8080:80 + os.busybox + console",
         "a tiny VM with 2 GiB of RAM and a forwarded port, on its serial console (Ctrl-] detaches)"),
    ]

    /// Exit statuses: sysexits, as `host: error:` messages carry them.
    static let exitStatus: [Item] = [
        ("0", "success; a step such as exec or script.test may pass on its command's status instead"),
        ("1", "a step failed"),
        ("64", "usage error: the command line cannot work (unknown step or parameter, wrong value, impossible pipeline)"),
        ("69", "a plugin is missing or broken"),
        ("72", "this machine lacks something host needs (a tool, space, a permission)"),
        ("74", "the cache could not be read or written"),
        ("65", "what a registry sent is not what its digests say (push, pull, from)"),
        ("75", "a registry could not be reached or refused the request; try again"),
    ]

    /// Where the plugin author's guide and examples are, for `host --help`,
    /// the man page and `host plugin-template`: beside an installed host
    /// (PREFIX/bin/host, so PREFIX/share/doc/host, where scripts/setup
    /// installs them), in the source tree of a host run from its build
    /// directory, else named within host's source.
    static func pluginDocs(executable: URL = URL(fileURLWithPath: Bundle.main.executablePath ?? "/proc/self/exe"))
        -> (guide: String, examples: String, headers: String) {
        let binary = executable.resolvingSymlinksInPath()
        let installed = binary.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("share/doc/host")
        if FileManager.default.fileExists(atPath: installed.appendingPathComponent("plugins.md").path) {
            let prefix = installed.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            return (installed.appendingPathComponent("plugins.md").path, installed.appendingPathComponent("examples").path,
                    prefix.appendingPathComponent("include/host").path)
        }
        // A build directory lies inside the source tree (.build/TRIPLE/CONFIG/host).
        var directory = binary.deletingLastPathComponent()
        while directory.path != "/" {
            let guide = directory.appendingPathComponent("docs/plugins.md")
            if FileManager.default.fileExists(atPath: guide.path),
               FileManager.default.fileExists(atPath: directory.appendingPathComponent("Sources/PluginABI/include/host_plugin.h").path) {
                return (guide.path, directory.appendingPathComponent("Examples").path,
                        directory.appendingPathComponent("Sources/PluginABI/include").path)
            }
            directory = directory.deletingLastPathComponent()
        }
        return ("docs/plugins.md in host's source", "Examples/ there", "Sources/PluginABI/include there")
    }

    static func terminal() -> String {
        func table(_ items: [Item]) -> String {
            let width = min(items.map(\.name.count).max() ?? 0, 34)
            return items.map { item in
                item.name.count > width
                    ? "  \(item.name)\n  \(String(repeating: " ", count: width))  \(item.meaning)"
                    : "  \(item.name.padding(toLength: width, withPad: " ", startingAt: 0))  \(item.meaning)"
            }.joined(separator: "\n")
        }
        let docs = pluginDocs()
        return """
            host \(version): \(summary)

            USAGE:
            \(synopsis.map { "  " + $0 }.joined(separator: "\n"))

            \(wrap(description, width: 78))

            COMMANDS:
            \(table(commands))

            OPTIONS (before the first step):
            \(table(options))

            ENVIRONMENT:
            \(table(environment))

            EXAMPLES:
            \(examples.map { "  $ \($0.name)\n      \($0.meaning)" }.joined(separator: "\n"))

            EXIT STATUS:
            \(table(exitStatus))

            `host help STEP` shows one step's parameters; `man host` shows this page.
            Writing plugins: \(docs.guide)
              (examples: \(docs.examples); headers: \(docs.headers))
            """
    }

    /// The man page, in roff.
    static func manual() -> String {
        func escaped(_ text: String) -> String {
            text.replacingOccurrences(of: "\\", with: "\\e").replacingOccurrences(of: "-", with: "\\-")
                .split(separator: "\n", omittingEmptySubsequences: false)
                .map { $0.hasPrefix(".") || $0.hasPrefix("'") ? "\\&" + $0 : String($0) }.joined(separator: "\n")
        }
        func list(_ items: [Item]) -> String {
            items.map { ".TP\n.B \(escaped($0.name))\n\(escaped($0.meaning))" }.joined(separator: "\n")
        }
        let docs = pluginDocs()
        return """
            .TH HOST 1 "" "host \(version)" "User Commands"
            .SH NAME
            host \\- \(escaped(summary))
            .SH SYNOPSIS
            \(synopsis.map { ".B \(escaped($0))\n.br" }.joined(separator: "\n"))
            .SH DESCRIPTION
            \(escaped(description))
            .SH COMMANDS
            \(list(commands))
            .SH OPTIONS
            Options come before the first step.
            \(list(options))
            .SH ENVIRONMENT
            \(list(environment))
            .SH EXAMPLES
            \(examples.map { ".TP\n.B $ \(escaped($0.name))\n\(escaped($0.meaning))" }.joined(separator: "\n"))
            .SH EXIT STATUS
            \(list(exitStatus))
            .SH FILES
            .TP
            .B ~/.cache/host
            cached machines (machines/), downloads, the per\\-user SSH key (ssh/), logs of failed steps (logs/)
            .TP
            .B ~/.local/lib/host/plugins
            plugins: shared objects speaking host_plugin.h
            .TP
            .B \(escaped(docs.guide))
            the plugin author's guide (examples: \(escaped(docs.examples)); the plugin ABI's headers: \(escaped(docs.headers)))
            .SH SEE ALSO
            .BR ssh (1),
            .BR qemu\\-system\\-x86_64 (1),
            .BR podman (1),
            .BR ansible\\-playbook (1)

            """
    }

    static func wrap(_ text: String, width: Int) -> String {
        var lines: [String] = [], line = ""
        for word in text.split(separator: " ") {
            if !line.isEmpty && line.count + 1 + word.count > width {
                lines.append(line)
                line = ""
            }
            line += (line.isEmpty ? "" : " ") + word
        }
        if !line.isEmpty { lines.append(line) }
        return lines.joined(separator: "\n")
    }
}
