import ArgumentParser
import Foundation
import HostCore

struct Cache: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inspect cached machines.", subcommands: [List.self], defaultSubcommand: List.self)

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List cached machines.")

        func run() throws {
            let rows = try CacheAdmin(cache: .fromEnvironment()).list()
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
                print(line + (row.problem.map { "(unusable: \($0))" } ?? row.pipeline))
            }
        }
    }
}

struct Cleanup: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove cached machines (never one another run is using).",
        discussion: "host cleanup machines [all|expired]   host cleanup everything")

    enum What: String, ExpressibleByArgument, CaseIterable { case machines, everything }

    @Argument(help: "machines or everything") var what: What
    @Argument(help: "With machines: all or expired (default: expired).") var which: CacheAdmin.Which?

    func validate() throws {
        if what == .everything, which != nil { throw ValidationError("cleanup everything takes no further word") }
    }

    func run() throws {
        let admin = CacheAdmin(engine: try Engine(registry: Main.loadPlugins(), cache: .fromEnvironment(), output: Output()))
        let report = what == .everything ? try admin.cleanupEverything() : try admin.cleanup(which ?? .expired)
        print("removed \(report.removed) machine(s)" + (what == .everything ? " and \(report.downloads) download(s)" : "")
              + ", freed \(Format.bytes(report.freedBytes))")
        if !report.inUse.isEmpty {
            print("kept \(report.inUse.count) in use by another run: \(report.inUse.map { String($0.prefix(12)) }.joined(separator: ", "))")
        }
    }
}

extension CacheAdmin.Which: ExpressibleByArgument {}

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
