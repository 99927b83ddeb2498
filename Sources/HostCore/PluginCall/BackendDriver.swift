import Foundation
import HostModel
import PluginABI

/// The only code that calls a backend's host_backend table. Every call gets
/// a CallContext of its own, named for the backend, whose host services
/// reach `services`; HOST_ERROR comes back as a HostError that names the
/// backend and what it was asked to do, HOST_USAGE_ERROR as a usage error.
/// A value with no state: whoever needs one makes or keeps one.
struct BackendDriver {
    let registry: PluginIndex
    let services: HostServices

    func backend(of entry: CacheEntry) throws -> BackendRef {
        try backend(of: entry.manifest.backend, "the cached machine \(entry.key.prefix(12))")
    }

    func backend(of name: String, _ whose: String) throws -> BackendRef {
        do {
            return try BackendRef(try registry.step(named: name))
        } catch {
            throw HostError(.plugin, "\(whose) needs backend \(name), which is not available: \(error)")
        }
    }

    // MARK: Making machines

    /// A new machine of the pipeline's backend step, configured by its
    /// arguments (create_with), or made empty (create, before ABI 1.3) for
    /// the step's entry to configure.
    func create(_ planned: Planned, in directory: TemporaryDirectory) throws -> TrackedMachine {
        let backend = try BackendRef(planned.step)
        let machine = TrackedMachine(backend: backend, directory: directory, origin: nil)
        let path = directory.machineDirectory.path
        if let createWith = backend.table.create_with {
            let arena = CArena()
            let arguments = arena.arguments(zip(planned.step.parameters, planned.arguments.values).map { ($0, $1) })
            try withExtendedLifetime(arena) {
                try call(machine, log: nil, "create") { createWith($0, path, arguments, &machine.object) }
            }
        } else if let create = backend.table.create {
            try call(machine, log: nil, "create") { create($0, path, &machine.object) }
        }
        return machine
    }

    /// A new machine that starts as the saved one in `entry` is.
    func clone(_ entry: CacheEntry, backend: BackendRef, into directory: TemporaryDirectory) throws -> TrackedMachine {
        let machine = TrackedMachine(backend: backend, directory: directory, origin: entry)
        try call(machine, log: nil, "clone") {
            backend.table.clone($0, entry.machineDirectory.path, directory.machineDirectory.path, &machine.object)
        }
        return machine
    }

    /// The backend step's run-time arguments, for a machine just made.
    func setRunArguments(_ machine: TrackedMachine, _ arguments: [(ParameterInfo, ArgumentValue)]) throws {
        guard let give = machine.backend.table.set_run_arguments else { return }
        let arena = CArena()
        let list = arena.arguments(arguments)
        try withExtendedLifetime(arena) {
            try call(machine, log: nil, "configure") { give($0, machine.object, list) }
        }
    }

    /// Why the saved machine in `entry` cannot be reused, by its backend's
    /// own check; nil when it can.
    func problem(with entry: CacheEntry, backend: BackendRef) -> String? {
        guard let check = backend.table.check else { return nil }
        let context = CallContext(services: services, stepName: backend.step.name, log: nil)
        let status = CrashReport.during(Self.running(backend, "check a saved machine of")) { check(context.raw, entry.machineDirectory.path) }
        guard status == HOST_OK else {
            return "\(backend.step.name) cannot reuse the saved machine: \(context.error ?? "no reason given")"
        }
        return nil
    }

    /// The backend's host.portable/1 table: its machines are files in the
    /// cache and nothing else, so they can go through a registry.
    func portable(_ backend: BackendRef) -> host_portable_v1? {
        guard let table = backend.table.extension?(HOST_PORTABLE_V1)?.assumingMemoryBound(to: host_portable_v1.self),
              table.pointee.struct_size >= MemoryLayout<host_portable_v1>.size else { return nil }
        return table.pointee
    }

    /// Lets the backend rewrite a pulled machine's paths (`old` to `new`
    /// prefixes) and refuse it if it cannot resume here.
    func adopt(_ directory: URL, backend: BackendRef, replacing old: [String], with new: [String]) throws {
        guard let adopt = portable(backend)?.adopt else {
            throw HostError(.plugin, "\(backend.step.name) cannot take machines from a registry (it offers no \(HOST_PORTABLE_V1))")
        }
        let arena = CArena()
        let oldList = arena.strings(old), newList = arena.strings(new)
        let context = CallContext(services: services, stepName: backend.step.name, log: nil)
        let status = withExtendedLifetime(arena) {
            CrashReport.during(Self.running(backend, "take over a pulled")) { adopt(context.raw, directory.path, oldList, newList, old.count) }
        }
        guard status == HOST_OK else { throw HostError(.stepFailed, context.error ?? "\(backend.step.name) refused it without a reason") }
    }

    /// Lets a deleted entry's backend release what it keeps outside the
    /// cache for its machine (backend.podman-criu's images): host_backend.forget.
    /// A backend that is not installed any more keeps them.
    func forget(machineDirectory: URL, backend name: String) {
        guard let step = try? registry.step(named: name), let backend = try? BackendRef(step),
              let forget = backend.table.forget else { return }
        let context = CallContext(services: services, stepName: step.name, log: nil)
        CrashReport.during(Self.running(backend, "let go of")) { forget(context.raw, machineDirectory.path) }
    }

    // MARK: A machine's life

    func up(_ machine: TrackedMachine, log: FileHandle?) throws {
        guard !machine.isUp else { return }
        do {
            try call(machine, log: log, "start") { machine.backend.table.up($0, machine.object) }
        } catch var error as HostError where machine.origin != nil {
            error.failedRestore = machine.origin?.directory.path
            throw error
        }
        machine.isUp = true
    }

    func down(_ machine: TrackedMachine, log: FileHandle?) throws {
        try call(machine, log: log, "save") { machine.backend.table.down($0, machine.object) }
        machine.isUp = false
    }

    func drop(_ machine: TrackedMachine, log: FileHandle?) {
        guard machine.object != nil else { return }
        let context = CallContext(services: services, stepName: machine.backend.step.name, log: log)
        CrashReport.during(Self.running(machine.backend, "stop")) { machine.backend.table.drop(context.raw, machine.object) }
        machine.object = nil
    }

    func extensionTable(_ machine: TrackedMachine, _ id: String) -> UnsafeRawPointer? {
        machine.backend.table.extension?(id)
    }

    // MARK: Work inside a running machine

    /// Runs `command`; each chunk of output goes to `sink` (stream 1 or 2).
    func exec(_ machine: TrackedMachine, _ command: String, log: FileHandle?, sink: @escaping (Int32, Data) -> Void) throws -> Int32 {
        var status: Int32 = 0
        try withOutput(sink) { output in
            try call(machine, log: log, "run `\(command)` in") { machine.backend.table.exec($0, machine.object, command, output, &status) }
        }
        return status
    }

    /// Runs `command` with `input` as its standard input
    /// (host_backend.exec_with, ABI 1.7); nil when the backend cannot.
    func exec(_ machine: TrackedMachine, _ command: String, input: [UInt8], log: FileHandle?, sink: @escaping (Int32, Data) -> Void) throws -> Int32? {
        guard let execWith = machine.backend.table.exec_with else { return nil }
        var status: Int32 = 0
        try withOutput(sink) { output in
            try command.withCString { text in
                try input.withUnsafeBytes { bytes in
                    var request = host_exec_request(struct_size: MemoryLayout<host_exec_request>.size, command: text,
                                                    input: bytes.baseAddress?.assumingMemoryBound(to: CChar.self),
                                                    input_length: bytes.count, flags: 0)
                    try call(machine, log: log, "run `\(command)` in") { execWith($0, machine.object, &request, output, &status) }
                }
            }
        }
        return status
    }

    /// A host_output whose chunks go to `sink`, for the length of `body`.
    private func withOutput(_ sink: @escaping (Int32, Data) -> Void, _ body: (UnsafePointer<host_output>) throws -> Void) throws {
        final class Sink { let write: (Int32, Data) -> Void; init(_ write: @escaping (Int32, Data) -> Void) { self.write = write } }
        let box = Sink(sink)
        var output = host_output(struct_size: MemoryLayout<host_output>.size,
                                 context: Unmanaged.passUnretained(box).toOpaque()) { raw, stream, data, length in
            guard let raw, let data else { return }
            Unmanaged<Sink>.fromOpaque(raw).takeUnretainedValue().write(stream, Data(bytes: data, count: length))
        }
        try withExtendedLifetime(box) { try body(&output) }
    }

    func upload(_ machine: TrackedMachine, _ local: String, to remote: String, log: FileHandle?) throws {
        try call(machine, log: log, "upload \(local) to") { machine.backend.table.upload($0, machine.object, local, remote) }
    }

    func download(_ machine: TrackedMachine, _ remote: String, to local: String, log: FileHandle?) throws {
        try call(machine, log: log, "download \(remote) from") { machine.backend.table.download($0, machine.object, remote, local) }
    }

    func consoleSend(_ machine: TrackedMachine, _ bytes: [UInt8], log: FileHandle?) throws {
        try call(machine, log: log, "type on the console of") { context in
            bytes.withUnsafeBytes { raw in
                machine.backend.table.console_send(context, machine.object, raw.baseAddress?.assumingMemoryBound(to: CChar.self), raw.count)
            }
        }
    }

    /// What the console printed, waiting up to `timeoutMs` for the first byte.
    func consoleRead(_ machine: TrackedMachine, capacity: Int, timeoutMs: Int64, log: FileHandle?) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: max(capacity, 1))
        var got = 0
        try call(machine, log: log, "read the console of") { context in
            buffer.withUnsafeMutableBytes { bytes in
                machine.backend.table.console_read(context, machine.object, bytes.baseAddress?.assumingMemoryBound(to: CChar.self),
                                                   bytes.count, timeoutMs, &got)
            }
        }
        return Array(buffer.prefix(got))
    }

    /// Whose code runs, for CrashReport.
    private static func running(_ backend: BackendRef, _ operation: String) -> String {
        "the plugin \(backend.step.plugin.path), asked as \(backend.step.name) to \(operation) a machine,"
    }

    /// Calls one backend function with a fresh call context.
    private func call(_ machine: TrackedMachine, log: FileHandle?, _ operation: String,
                      _ body: (UnsafeMutablePointer<host_call>) -> host_status) throws {
        let context = CallContext(services: services, stepName: machine.backend.step.name, log: log)
        let status = CrashReport.during(Self.running(machine.backend, operation)) { body(context.raw) }
        if status == HOST_USAGE_ERROR { throw HostError.usage("\(machine.backend.step.name): \(context.error ?? "no reason given")") }
        guard status == HOST_OK else {
            throw HostError(.stepFailed, "\(machine.backend.step.name) could not \(operation) the machine: \(context.error ?? "no reason given")")
        }
    }
}

/// What named machines ask of a running machine's backend beyond a run's needs.
extension BackendDriver {
    /// The host processes the machine is made of (host_backend.processes,
    /// ABI 1.7); nil when the backend cannot say.
    func processes(_ machine: TrackedMachine) -> [Int32]? {
        guard let processes = machine.backend.table.processes else { return nil }
        var pids = [Int32](repeating: 0, count: 32)
        var count = 0
        let context = CallContext(services: services, stepName: machine.backend.step.name, log: nil)
        let status = CrashReport.during("the plugin \(machine.backend.step.plugin.path), asked for a machine's processes,") {
            processes(context.raw, machine.object, &pids, pids.count, &count)
        }
        return status == HOST_OK ? Array(pids.prefix(min(count, pids.count))) : nil
    }

    /// The ssh(1) arguments that reach the machine (host.ssh/1), or nil
    /// when its backend offers no SSH.
    func sshArguments(_ machine: TrackedMachine) throws -> [String]? {
        guard let raw = machine.backend.table.extension?(HOST_SSH_V1)?.assumingMemoryBound(to: host_ssh_v1.self),
              raw.pointee.struct_size >= MemoryLayout<host_ssh_v1>.size, let arguments = raw.pointee.arguments else { return nil }
        var words: [String] = []
        let context = CallContext(services: services, stepName: machine.backend.step.name, log: nil)
        let list = CrashReport.during("the plugin \(machine.backend.step.plugin.path), asked how to reach a machine over SSH,") {
            arguments(context.raw, machine.object)
        }
        guard let list else { throw HostError(.stepFailed, "\(machine.backend.step.name) gives no way in over SSH: \(context.error ?? "no reason given")") }
        var index = 0
        while let word = list[index] {
            words.append(String(cString: word))
            index += 1
        }
        return words
    }
}
