import ArgumentParser
import Foundation
import HostCore

/// The engine for a command that runs a pipeline (push, tag, pull's backends).
private func engine() throws -> Engine {
    try Engine(registry: Main.loadPlugins(), cache: .fromEnvironment(), output: commandOutput)
}

struct Push: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push", abstract: "Build a pipeline (or reuse the cache) and push the machine it yields, live, to an OCI registry.",
        discussion: """
            The image holds every cached step the machine was built on, so `host from REF` resumes it on another computer. \
            Credentials come from `skopeo login`; host stores none. Example: host push registry.example/team/debian-patch:1 os.debian + ansible package --name=patch
            """)

    @Option(name: .customLong("tls-verify"), help: "Check the registry's TLS certificate (false for a plain-HTTP registry you trust).")
    var tlsVerify = true
    @Argument(help: "Where to push: REGISTRY/REPOSITORY:TAG.") var reference: String
    @Argument(parsing: .captureForPassthrough, help: "The pipeline that makes the machine, or `from NAME`.") var pipeline: [String] = []

    func run() throws {
        let report = try engine().push(reference, pipeline: pipeline, tlsVerify: tlsVerify)
        print("pushed \(report.reference) (\(report.digest)): \(report.entries) cached step(s), \(report.layers) layers, \(Format.bytes(report.bytes)) compressed")
    }
}

struct Pull: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull", abstract: "Fetch a machine pushed with `host push` into the cache; `host from REF` resumes it.",
        discussion: "Every layer is checked against its digest before anything is added to the cache; what is here already is not fetched again.")

    @Option(name: .customLong("tls-verify"), help: "Check the registry's TLS certificate (false for a plain-HTTP registry you trust).")
    var tlsVerify = true
    @Argument(help: "What to pull: REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@sha256:DIGEST.") var reference: String

    func run() throws {
        let report = try engine().pull(reference, tlsVerify: tlsVerify)
        print(report.fetched == 0 ? "\(report.reference) (\(report.digest)) is here already as \(report.key.prefix(12)); nothing was transferred"
              : "pulled \(report.reference) (\(report.digest)) as \(report.key.prefix(12)): fetched \(report.fetched) of \(report.entries) cached step(s)")
    }
}

struct Tag: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tag", abstract: "Give a cached machine a local name, for `host from NAME`.",
        discussion: "host tag dev os.debian + ansible package --name=patch; host from dev + ssh. A name has no / or :. Cleanup keeps named machines unless given --tagged.")

    @Flag(help: "List the local names.") var list = false
    @Option(help: "Remove a local name (cleanup may then remove its machine).") var delete: String?
    @Flag(help: "Print JSON for scripts (with --list).") var json = false
    @Argument(help: "The name.") var name: String?
    @Argument(parsing: .captureForPassthrough, help: "The pipeline that makes the machine.") var pipeline: [String] = []

    func validate() throws {
        if list || delete != nil {
            guard name == nil else { throw ValidationError("--list and --delete take no name or pipeline") }
        } else if name == nil {
            throw ValidationError("give a name and a pipeline, as in `host tag dev os.debian`, or --list, or --delete NAME")
        }
    }

    func run() throws {
        if let delete {
            try CacheAdmin(cache: .fromEnvironment()).deleteTag(delete)
            print("removed the name \(delete)")
        } else if list {
            let rows = try CacheAdmin(cache: .fromEnvironment()).tags()
            if json {
                print(try JSON.text(rows.map { ["name": $0.name, "key": $0.key, "pipeline": $0.pipeline, "created": JSON.date($0.created), "cached": $0.cached] }))
            } else if rows.isEmpty {
                print("no local names; make one with `host tag NAME PIPELINE`")
            } else {
                for row in rows {
                    print(row.name.padding(toLength: max(14, row.name.count + 2), withPad: " ", startingAt: 0) + String(row.key.prefix(12)) + "  "
                          + (row.cached ? "" : "(no longer cached) ") + row.pipeline)
                }
            }
        } else if let name {
            let key = try engine().tag(name, pipeline: pipeline)
            print("\(name) names \(key.prefix(12)); start from it with `host from \(name)`")
        }
    }
}
