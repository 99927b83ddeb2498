import Foundation
import HostModel

/// What host remembers of a machine kept under a name (`host up
/// --name=NAME`) between commands: the pipeline it came from, the cache
/// entry it last saved, and whether it runs. Kept in ROOT/named/NAME.json,
/// replaced whole by rename, so a reader never sees half a record.
public struct NamedMachine: Codable, Sendable {
    public enum State: String, Codable, Sendable {
        /// A monitor is bringing it up.
        case starting
        case running
        /// Saved (`host stop`) or, after the computer restarted, at its last save.
        case stopped
        /// Its process or monitor ended without a save.
        case dead
    }

    public let name: String
    public let backend: String
    /// The pipeline as typed, its words; `pipelineEntry` is the cache entry it made.
    public let pipeline: [String]
    public let pipelineEntry: String
    /// The entry the last `host stop` saved; nil until then.
    public var saved: String?
    /// Every entry a stop saved for this machine, oldest first: each is
    /// built on the one before (a disk's backing chain), so all are kept
    /// until `host rm`.
    public var owned: [String] = []
    public var state: State
    /// When the state began.
    public var since: Date
    /// Why it is stopped or dead, for `host ls`.
    public var reason: String?
    /// The monitor's Unix socket, while it runs.
    public var socket: String?
    public var monitorPID: Int32?
    /// The host processes the machine is made of (host_backend.processes),
    /// whose memory `host ls` shows.
    public var processes: [Int32] = []
    /// The computer's boot the machine ran in: another boot means it is not
    /// running whatever the record says.
    public var bootID: String?
    /// The monitor protocol the machine's monitor speaks.
    public var protocolVersion: Int = MonitorProtocol.version

    public init(name: String, backend: String, pipeline: [String], pipelineEntry: String, state: State) {
        self.name = name
        self.backend = backend
        self.pipeline = pipeline
        self.pipelineEntry = pipelineEntry
        self.state = state
        since = Date()
    }

    /// The entry the machine starts from: its last save, else its pipeline's.
    public var startEntry: String { saved ?? pipelineEntry }

    public var pipelineText: String { pipeline.map(ShellWord.quote).joined(separator: " ") }
}

/// The named machines of one cache root: their records, a lock per name
/// for commands that change one, and the flock a monitor holds for as long
/// as it lives (so a monitor killed by SIGKILL is seen as gone, whatever
/// process later takes its pid).
public struct NamedMachines: Sendable {
    public let location: CacheLocation

    public init(location: CacheLocation) { self.location = location }

    var directory: URL { location.root.appendingPathComponent("named") }
    func recordFile(_ name: String) -> URL { directory.appendingPathComponent(name + ".json") }
    /// The machine's console output, kept bounded by its monitor.
    public func consoleLog(_ name: String) -> URL { directory.appendingPathComponent(name + ".console.log") }
    /// What the monitor itself says (its errors), for `host logs` to point at.
    func monitorLog(_ name: String) -> URL { directory.appendingPathComponent(name + ".monitor.log") }

    /// A name: as a tag's (letters, digits, `-`, `_`, `.`).
    public static func checkName(_ name: String) throws {
        try MachineNames.checkName(name, example: "host up --name=db os.debian")
    }

    func prepare() throws {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw HostError(system: error)
        }
    }

    public func read(_ name: String) -> NamedMachine? {
        guard let data = try? Data(contentsOf: recordFile(name)) else { return nil }
        return try? Self.decoder.decode(NamedMachine.self, from: data)
    }

    public func write(_ record: NamedMachine) throws {
        try prepare()
        let target = recordFile(record.name)
        let partial = directory.appendingPathComponent(".\(record.name).\(getpid()).new")
        do {
            try Self.encoder.encode(record).write(to: partial)
            guard rename(partial.path, target.path) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        } catch {
            try? FileManager.default.removeItem(at: partial)
            throw HostError(system: error, "cannot record the machine \(record.name) in \(directory.path)")
        }
    }

    /// The last `count` lines the machine's console printed (for one that died).
    public func lastConsoleLines(_ name: String, _ count: Int) -> [String] { ConsoleLog.lastLines(consoleLog(name), count) }

    func delete(_ name: String) {
        for file in [recordFile(name), consoleLog(name), monitorLog(name)] { try? FileManager.default.removeItem(at: file) }
    }

    public func names() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
            .filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }.map { String($0.dropLast(5)) }.sorted()
    }

    public func all() -> [NamedMachine] { names().compactMap(read) }

    /// Held by a command that changes the machine (up, stop, rm), so two at
    /// once take turns: the second sees what the first did.
    func changeLock(_ name: String) throws -> FileLock {
        try prepare()
        return try FileLock(directory.appendingPathComponent(name + ".lock").path)
    }

    /// Held exclusively by the machine's monitor for its whole life.
    func aliveLock(_ name: String) throws -> FileLock {
        try prepare()
        return try FileLock(directory.appendingPathComponent(name + ".alive").path)
    }

    /// Whether the machine's monitor still runs.
    public func monitorRuns(_ name: String) -> Bool {
        guard let lock = try? aliveLock(name) else { return false }
        if lock.tryLock(.shared) {
            lock.unlock()
            return false
        }
        return true
    }

    /// The record as things are now: a machine recorded as running whose
    /// monitor is gone is dead, and one that ran before the computer
    /// restarted is stopped at its last save (what changed since is lost).
    public func observed(_ name: String, bootID: String = Self.bootID) -> NamedMachine? {
        guard var record = read(name) else { return nil }
        guard record.state == .running || record.state == .starting else { return record }
        if record.bootID != bootID {
            record.state = .stopped
            record.reason = "the computer restarted while it ran; it resumes from its last save, and what changed after that is lost"
        } else if !monitorRuns(name) {
            record.state = .dead
            record.reason = record.reason ?? "its monitor (pid \(record.monitorPID.map(String.init) ?? "?")) ended without saving it"
        } else {
            return record
        }
        record.socket = nil
        record.processes = []
        return record
    }

    /// This boot of the computer; HOST_BOOT_ID stands in for it in tests
    /// (a reboot cannot be).
    public static var bootID: String {
        if let injected = ProcessInfo.processInfo.environment["HOST_BOOT_ID"], !injected.isEmpty { return injected }
        return ((try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)) ?? "unknown")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The cache entries the named machines start from: their pipelines'
    /// and every save their stops made.
    func starts() -> [String] { all().flatMap { [$0.pipelineEntry] + $0.owned }.filter { !$0.isEmpty } }

    /// Those entries and every entry they were built on.
    func pinnedEntries() -> Set<String> { location.withAncestors(starts()) }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()
}
