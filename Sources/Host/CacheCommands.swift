import ArgumentParser
import Foundation
import HostCore

struct Cache: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache", abstract: "Inspect cached machines.", subcommands: [List.self, Verify.self, Remove.self], defaultSubcommand: List.self)

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rm", abstract: "Remove cached machines by key or pipeline, with every machine built on them.",
            discussion: "KEY: a key or a unique prefix of one (4 characters or more), as `host cache ls` shows it. PIPELINE: as `host cache ls` shows it, quoted, with or without its backend step. Never removes a machine another run is using or one a local name (host tag) keeps.")

        @Argument(help: "keys or pipelines") var machines: [String]
        @Flag(help: "Print JSON for scripts.") var json = false

        func validate() throws {
            if machines.isEmpty { throw ValidationError("name the machines to remove: host cache rm KEY|PIPELINE...") }
        }

        func run() throws {
            let report = try CacheAdmin(cache: .fromEnvironment(), registry: Main.loadPlugins()).remove(machines)
            try Cleanup.show(report, json: json, counting: [.machines])
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check saved machines' files against the sizes and SHA-256 digests recorded when they were saved.",
            discussion: "Without --all, only machines not yet checked where they lie. A damaged one is rebuilt by the next run that needs it; host exits 1 when it found one.")

        @Flag(help: "Check every saved machine.") var all = false
        @Flag(help: "Print JSON for scripts.") var json = false

        func run() throws {
            let results = try CacheAdmin(cache: .fromEnvironment()).verify(all: all)
            if json {
                print(try JSON.text(results.map { result -> [String: Any] in
                    var item: [String: Any] = ["key": result.key, "pipeline": result.pipeline, "intact": result.problem == nil]
                    if let problem = result.problem { item["problem"] = problem }
                    return item
                }))
            } else if results.isEmpty {
                print(all ? "no cached machines" : "every cached machine was checked already (--all checks them again)")
            }
            for result in results where !json {
                print("\(result.key.prefix(12))  \(result.problem ?? "intact")  \(result.pipeline)")
            }
            if results.contains(where: { $0.problem != nil }) { throw ExitCode(1) }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List cached machines.")

        @Flag(help: "Print JSON for scripts.") var json = false

        func run() throws {
            let rows = try CacheAdmin(cache: .fromEnvironment()).list(installed: Main.loadPlugins())
            if json {
                print(try JSON.text(rows.map { row -> [String: Any] in
                    var item: [String: Any] = ["key": row.key, "pipeline": row.pipeline, "bytes": row.bytes]
                    if let created = row.created { item["created"] = JSON.date(created) }
                    if let expires = row.expires { item["expires"] = JSON.date(expires) }
                    if let problem = row.problem { item["problem"] = problem }
                    if let origin = row.origin { item["origin"] = ["reference": origin.reference, "digest": origin.digest] }
                    if !row.tags.isEmpty { item["tags"] = row.tags }
                    if let orphan = row.orphan { item["plugin_installed"] = !orphan }
                    return item
                }))
                return
            }
            guard !rows.isEmpty else {
                print("no cached machines")
                return
            }
            print("KEY           SIZE      AGE       EXPIRES IN  PIPELINE")
            for row in rows {
                let age = row.created.map { Format.duration(Date().timeIntervalSince($0)) } ?? "?"
                let expiry = row.expires.map { $0 < Date() ? "expired" : Format.duration($0.timeIntervalSinceNow) } ?? "?"
                let line = [String(row.key.prefix(12)), Format.bytes(row.bytes), age, expiry]
                    .enumerated().map { $1.padding(toLength: [14, 10, 10, 12][$0], withPad: " ", startingAt: 0) }.joined()
                let notes = row.tags.map { "tag \($0)" } + (row.origin.map { ["pulled from \($0.reference)"] } ?? [])
                    + (row.orphan == true ? ["its plugin is no longer installed: never reused; host cache rm \(row.key.prefix(12))"] : [])
                print(line + (row.problem.map { "(unusable: \($0))" } ?? row.pipeline) + (notes.isEmpty ? "" : "  (\(notes.joined(separator: ", ")))"))
            }
        }
    }
}

struct Cleanup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cleanup", abstract: "Remove cached machines, downloads or logs (never a machine another run is using).",
        discussion: """
            host cleanup machines [all|expired]   host cleanup downloads   host cleanup logs   host cleanup everything
            host cleanup periodic: expired machines, then the least recently used leaves until the cache fits HOST_CACHE_MAX (default 50G); host runs it itself in the background at most once a day
            """)

    enum What: String, ExpressibleByArgument, CaseIterable { case machines, downloads, logs, everything, periodic }

    @Argument(help: "machines, downloads, logs, everything or periodic") var what: What
    @Argument(help: "With machines: all or expired (default: expired).") var which: CacheAdmin.Which?
    @Flag(help: "Print JSON for scripts.") var json = false
    @Flag(help: "Also remove machines a local name (host tag) keeps.") var tagged = false

    func validate() throws {
        if what != .machines, which != nil { throw ValidationError("cleanup \(what.rawValue) takes no further word") }
    }

    func run() throws {
        let report: CacheAdmin.CleanupReport
        switch what {
        case .machines, .everything:
            let admin = try CacheAdmin(cache: .fromEnvironment(), registry: Main.loadPlugins())
            report = what == .everything ? try admin.cleanupEverything() : try admin.cleanup(which ?? .expired, tagged: tagged)
        case .periodic:
            let budget = try PeriodicCleanup.bytes(ProcessInfo.processInfo.environment["HOST_CACHE_MAX"].flatMap { $0.isEmpty ? nil : $0 }
                                                   ?? PeriodicCleanup.defaultBudget)
            report = try CacheAdmin(cache: .fromEnvironment(), registry: Main.loadPlugins()).cleanupPeriodic(budget: budget)
        case .downloads: report = try CacheAdmin(cache: .fromEnvironment()).cleanupDownloads()
        case .logs: report = try CacheAdmin(cache: .fromEnvironment()).cleanupLogs()
        }
        try Self.show(report, json: json, counting: what == .everything ? [.machines, .downloads, .logs] : [what])
    }

    /// What a cleanup removed and kept, as text or JSON.
    static func show(_ report: CacheAdmin.CleanupReport, json: Bool, counting: [What]) throws {
        if json {
            print(try JSON.text(["machines": report.removed, "downloads": report.downloads, "logs": report.logs, "package_cache": report.packageCache,
                                 "freed_bytes": report.freedBytes, "in_use": report.inUse, "kept_tagged": report.tagged] as [String: Any]))
            return
        }
        let parts = [(report.removed, "machine(s)", counting.contains(.machines) || counting.contains(.periodic)),
                     (report.downloads, "download(s)", counting.contains(.downloads)),
                     (report.logs, "log(s)", counting.contains(.logs))]
            .filter(\.2).map { "\($0.0) \($0.1)" } + (report.packageCache ? ["the package cache"] : [])
        print("removed \(parts.joined(separator: ", ")), freed \(Format.bytes(report.freedBytes))")
        if report.tagged > 0 {
            print("kept \(report.tagged) that local names keep (host tag --list; --tagged removes them too)")
        }
        if !report.inUse.isEmpty {
            print("kept \(report.inUse.count) in use by another run: \(report.inUse.map { String($0.prefix(12)) }.joined(separator: ", "))")
        }
    }
}

extension CacheAdmin.Which: ExpressibleByArgument {}

enum JSON {
    static func text(_ object: Any) throws -> String {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }

    static func date(_ date: Date) -> String { ISO8601DateFormatter().string(from: date) }
}

enum Format {
    static func bytes(_ count: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(count), unit = 0
        while value >= 1024, unit < units.count - 1 { value /= 1024; unit += 1 }
        return unit == 0 ? "\(count) B" : String(format: "%.1f %@", value, units[unit])
    }

    static func duration(_ seconds: TimeInterval) -> String {
        let s = Int(seconds.rounded())
        if s < 120 { return "\(s)s" }
        if s < 7200 { return "\(s / 60)m" }
        if s < 172_800 { return "\(s / 3600)h" }
        return "\(s / 86400)d"
    }
}
