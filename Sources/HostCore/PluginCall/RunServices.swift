import ChildProcess
import Foundation
import HostModel
import PluginABI

/// The host services of a pipeline run, as the steps and backends call them
/// (ServicesTable is the C side): commands, files and the console of a
/// machine through its backend, `apply` through the step runner that the
/// call's context names, the per-user SSH key, downloads and logging.
final class RunServices: HostServices {
    private let registry: PluginIndex
    private let location: CacheLocation
    private let output: Output
    /// The status host exits with; set by steps such as exec.
    var exitStatus: Int32 = 0

    init(registry: PluginIndex, location: CacheLocation, output: Output) {
        self.registry = registry
        self.location = location
        self.output = output
    }

    /// Made per use, not kept: the driver holds these services.
    private var driver: BackendDriver { BackendDriver(registry: registry, services: self) }

    func log(_ context: CallContext, _ level: host_log_level, _ message: String) {
        context.write(log: message)
        if level.rawValue >= HOST_LOG_INFO.rawValue || output.verbose {
            output.report(RunEvent(.message, step: context.stepName, message: message))
        }
    }

    func setExitStatus(_ status: Int32) { exitStatus = status }

    func start(_ context: CallContext, _ machine: TrackedMachine) throws { try driver.up(machine, log: context.log) }

    func extensionTable(_ machine: TrackedMachine, _ id: String) -> UnsafeRawPointer? { driver.extensionTable(machine, id) }

    private func steps(_ context: CallContext) throws -> StepApplying {
        guard let steps = context.steps else { throw HostError(.plugin, "\(context.stepName): only a step may run other steps or save checkpoints") }
        return steps
    }

    func apply(_ context: CallContext, _ machine: TrackedMachine, _ words: [String]) throws -> TrackedMachine {
        try steps(context).apply(context, machine, words)
    }

    func checkpoint(_ context: CallContext, _ machine: TrackedMachine, key: String, description: String) throws -> TrackedMachine {
        try steps(context).checkpoint(context, machine, key: key, description: description)
    }

    func resume(_ context: CallContext, key: String) throws -> TrackedMachine? { try steps(context).resume(context, key: key) }

    func drop(_ context: CallContext, _ machine: TrackedMachine) throws { try steps(context).drop(context, machine) }

    func exec(_ context: CallContext, _ machine: TrackedMachine, _ command: String, stream: Bool) throws -> (status: Int32, out: Data, err: Data) {
        try start(context, machine)
        machine.isDirty = true
        context.write(log: "$ \(command)")
        var out = Data(), err = Data()
        let log = context.log
        let status = try driver.exec(machine, command, log: log) { stream2, chunk in
            if stream2 == 2 { err.append(chunk) } else { out.append(chunk) }
            log?.write(chunk)
            if stream { (stream2 == 2 ? StandardStream.error : .output).write(chunk) }
        }
        return (status, out, err)
    }

    func transfer(_ context: CallContext, _ machine: TrackedMachine, upload: Bool, _ local: String, _ remote: String) throws {
        try start(context, machine)
        if upload {
            machine.isDirty = true
            try driver.upload(machine, local, to: remote, log: context.log)
        } else {
            try driver.download(machine, remote, to: local, log: context.log)
        }
    }

    func consoleSend(_ context: CallContext, _ machine: TrackedMachine, _ bytes: [UInt8]) throws {
        try start(context, machine)
        machine.isDirty = true
        try driver.consoleSend(machine, bytes, log: context.log)
    }

    /// Console output for an interactive reader: what expect left over
    /// first, then what the backend reads within `timeoutMs`.
    func consoleRead(_ context: CallContext, _ machine: TrackedMachine, capacity: Int, timeoutMs: Int64) throws -> [UInt8] {
        try start(context, machine)
        if !machine.console.isEmpty {
            let bytes = Array(machine.console.prefix(capacity))
            machine.console.removeFirst(bytes.count)
            return bytes
        }
        return try driver.consoleRead(machine, capacity: capacity, timeoutMs: timeoutMs, log: context.log)
    }

    func consoleExpect(_ context: CallContext, _ machine: TrackedMachine, _ pattern: String, regex: Bool, timeoutMs: Int64) throws {
        try start(context, machine)
        let matcher = try ConsoleMatcher(pattern: pattern, regex: regex)
        let deadline = Date().addingTimeInterval(TimeInterval(timeoutMs) / 1000)
        while true {
            if let end = matcher.matchEnd(in: machine.console) {
                machine.console.removeFirst(end)
                return
            }
            let remaining = Int64(deadline.timeIntervalSinceNow * 1000)
            guard remaining > 0 else {
                let tail = String(decoding: machine.console.suffix(200), as: UTF8.self)
                throw HostError(.stepFailed, "\(context.stepName): the console did not show \(regex ? "a match for /\(pattern)/" : "\"\(pattern)\"") within \(timeoutMs) ms; it last showed: \(tail)")
            }
            let bytes = try driver.consoleRead(machine, capacity: 4096, timeoutMs: remaining, log: context.log)
            machine.console.append(contentsOf: bytes)
            context.log?.write(Data(bytes))
        }
    }

    private var identityPath: UnsafeMutablePointer<CChar>?

    /// The per-user SSH key's path, as a C string that lives as long as host.
    func identity() throws -> UnsafePointer<CChar> {
        if let identityPath { return UnsafePointer(identityPath) }
        guard let path = strdup(try SSHIdentity.ensure(in: location)) else {
            throw HostError(.environment, "out of memory")
        }
        identityPath = path
        return UnsafePointer(path)
    }

    func fetch(_ context: CallContext, url: String, checksum: String?) throws -> String {
        let downloads = DownloadCache(location: location, output: output)
        guard let checksum else { return try downloads.fetchUnverified(url, into: try context.scratchDirectory()) }
        let path = try downloads.fetch(url, checksum: try DownloadCache.Checksum(checksum))
        context.write(log: "fetched \(url) (\(checksum)) as \(path)")
        return path
    }
}
