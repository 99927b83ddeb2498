#if canImport(Glibc)
import Glibc
#endif
import PluginABI

/// A machine handle host gave the step; only meaningful during the call.
public struct MachineHandle: @unchecked Sendable {
    public let handle: OpaquePointer
}

/// A host service reported failure; host already holds its message, so the
/// step only has to pass the failure on (PluginKit does that when it is
/// thrown out of `run`).
public struct HostServiceFailed: Error {
    public init() {}
}

public struct ExecResult: Sendable {
    public let status: Int32
    public let out: String
    public let err: String
}

/// The Swift view of one call from host: the machine, the typed arguments and
/// the host services. Valid only until the step returns.
public final class StepCall: @unchecked Sendable {
    let raw: UnsafeMutablePointer<host_call>
    public let machine: MachineHandle
    public let arguments: Arguments

    init(raw: UnsafeMutablePointer<host_call>, machine: MachineHandle, arguments: Arguments) {
        self.raw = raw
        self.machine = machine
        self.arguments = arguments
    }

    private var services: host_services { raw.pointee.services.pointee }

    // MARK: Arguments (see Arguments)

    public func argument(_ name: String) -> Argument { arguments.argument(name) }
    public func string(_ name: String) -> String { arguments.string(name) }
    public func int(_ name: String) -> Int64 { arguments.int(name) }
    public func bool(_ name: String) -> Bool { arguments.bool(name) }
    public func double(_ name: String) -> Double { arguments.double(name) }
    /// A list or rest parameter.
    public func list(_ name: String) -> [String] { arguments.list(name) }
    public func pairs(_ name: String) -> [(String, String)] { arguments.pairs(name) }

    // MARK: Host services

    public func log(_ message: String, level: LogLevel = .info) {
        services.log(raw, level.abi, message)
    }

    private func check(_ status: host_status) throws {
        if status != HOST_OK { throw HostServiceFailed() }
    }

    /// Runs a shell command in `machine` (default: the step's own).
    @discardableResult
    public func exec(_ command: String, on machine: MachineHandle? = nil, stream: Bool = false) throws -> ExecResult {
        var result = host_exec_result()
        result.struct_size = MemoryLayout<host_exec_result>.size
        try check(services.exec(raw, (machine ?? self.machine).handle, command, stream ? HOST_EXEC_STREAM : 0, &result))
        return ExecResult(
            status: result.exit_status,
            out: Self.text(result.out, result.out_len),
            err: Self.text(result.err, result.err_len))
    }

    /// Runs a command that must succeed and returns its standard output.
    @discardableResult
    public func run(_ command: String, on machine: MachineHandle? = nil) throws -> String {
        let result = try exec(command, on: machine)
        guard result.status == 0 else {
            throw StepError("`\(command)` exited with status \(result.status): \(result.err)")
        }
        return result.out
    }

    private static func text(_ pointer: UnsafePointer<CChar>?, _ length: Int) -> String {
        guard let pointer, length > 0 else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: pointer, count: length), as: UTF8.self)
    }

    /// Applies another step, given as command-line words, to the machine this
    /// step was given (or `machine`); host caches it on its own.
    public func apply(_ words: [String], to machine: MachineHandle? = nil) throws -> MachineHandle {
        var result: OpaquePointer?
        let status = withCStrings(words) { argv in
            services.apply(raw, (machine ?? self.machine).handle, words.count, argv, &result)
        }
        try check(status)
        guard let result else { throw StepError("host applied \(words.first ?? "?") but returned no machine") }
        return MachineHandle(handle: result)
    }

    /// Saves `machine` as it is now as a cached entry that `resume(key:)`
    /// finds in a later run, and returns the machine to go on with.
    public func checkpoint(_ machine: MachineHandle, key: String, description: String) throws -> MachineHandle {
        var result: OpaquePointer?
        try check(services.checkpoint(raw, machine.handle, key, description, &result))
        guard let result else { throw StepError("host saved a checkpoint but returned no machine") }
        return MachineHandle(handle: result)
    }

    /// The machine a checkpoint saved under `key`, or nil.
    public func resume(key: String) -> MachineHandle? {
        services.resume(raw, key).map { MachineHandle(handle: $0) }
    }

    /// Ends a machine from apply, checkpoint or resume without saving it
    /// (services->discard): host's one verb for ending a machine is drop.
    public func drop(_ machine: MachineHandle) { services.discard(raw, machine.handle) }

    @available(*, deprecated, renamed: "drop")
    public func discard(_ machine: MachineHandle) { drop(machine) }

    public func upload(_ localPath: String, to machinePath: String, on machine: MachineHandle? = nil) throws {
        try check(services.upload(raw, (machine ?? self.machine).handle, localPath, machinePath))
    }
    public func download(_ machinePath: String, to localPath: String, on machine: MachineHandle? = nil) throws {
        try check(services.download(raw, (machine ?? self.machine).handle, machinePath, localPath))
    }
    public func consoleSend(_ text: String, on machine: MachineHandle? = nil) throws {
        try consoleSend(bytes: Array(text.utf8), on: machine)
    }
    public func consoleExpect(_ pattern: String, regex: Bool = false, timeoutMs: Int64 = 30_000, on machine: MachineHandle? = nil) throws {
        try check(services.console_expect(raw, (machine ?? self.machine).handle, pattern, regex ? HOST_EXPECT_REGEX : 0, timeoutMs))
    }
    /// What the console printed, waiting up to `timeoutMs` for the first byte.
    public func consoleRead(timeoutMs: Int64, on machine: MachineHandle? = nil) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 4096)
        var length = 0
        let status = buffer.withUnsafeMutableBytes { bytes in
            services.console_read(raw, (machine ?? self.machine).handle, bytes.baseAddress?.assumingMemoryBound(to: CChar.self),
                                  bytes.count, timeoutMs, &length)
        }
        try check(status)
        return Array(buffer.prefix(length))
    }

    /// Sends raw bytes (keystrokes, as the terminal gave them) to the console.
    public func consoleSend(bytes: [UInt8], on machine: MachineHandle? = nil) throws {
        let status = bytes.withUnsafeBytes { keys in
            services.console_send(raw, (machine ?? self.machine).handle, keys.baseAddress?.assumingMemoryBound(to: CChar.self), keys.count)
        }
        try check(status)
    }

    public func dependOn(file path: String) throws {
        try check(services.depend_file(raw, path))
    }
    public func capExpiry(seconds: Int64) { services.cap_expiry(raw, seconds) }
    /// Starts (or restores) the machine now.
    public func start(_ machine: MachineHandle? = nil) throws {
        try check(services.start(raw, (machine ?? self.machine).handle))
    }
    /// This user's SSH private key for machines (".pub" beside it).
    public func identity() throws -> String {
        guard let path = services.identity(raw) else { throw HostServiceFailed() }
        return String(cString: path)
    }
    /// Downloads `url`: into host's download cache, resumable and verified,
    /// when `checksum` ("sha256:HEX", "sha512:HEX") is given; else a fresh
    /// copy for this call (an index, a checksum list). Returns the local path.
    public func fetch(_ url: String, checksum: String? = nil) throws -> String {
        let path = checksum.map { sum in sum.withCString { services.fetch(raw, url, $0) } } ?? services.fetch(raw, url, nil)
        guard let path else { throw HostServiceFailed() }
        return String(cString: path)
    }
    public func setExitStatus(_ status: Int32) { services.set_exit_status(raw, status) }

    /// The backend's own object behind `machine`, when this plugin is its backend.
    public func backendMachine<T: AnyObject>(_ machine: MachineHandle? = nil, as type: T.Type) -> T? {
        PluginKit.backendMachine(backendObject(machine), as: type)
    }

    /// The raw backend object, to pass to a backend extension's functions.
    public func backendObject(_ machine: MachineHandle? = nil) -> UnsafeMutableRawPointer? {
        services.backend_machine(raw, (machine ?? self.machine).handle)
    }

    /// A backend extension table by versioned id (such as HOST_VM_V1), or
    /// nil when the machine's backend does not offer it, or offers a table
    /// smaller than `atLeast` bytes (default: all of this build's `T`). A
    /// smaller table is read into a zeroed `T`, so functions added later
    /// read as NULL, never past its end. Every extension table begins with
    /// its struct_size.
    public func extensionTable<T>(_ id: String, as type: T.Type, atLeast: Int = MemoryLayout<T>.size,
                                  on machine: MachineHandle? = nil) -> T? {
        guard let table = services.extension(raw, (machine ?? self.machine).handle, id) else { return nil }
        let declared = table.load(as: Int.self)
        guard declared >= atLeast else { return nil }
        let copy = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<T>.size, alignment: MemoryLayout<T>.alignment)
        defer { copy.deallocate() }
        copy.initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<T>.size)
        copy.copyMemory(from: table, byteCount: min(declared, MemoryLayout<T>.size))
        return copy.load(as: type)
    }

    /// The ssh(1) arguments that reach the machine, started first (host.ssh/1);
    /// nil when its backend offers no SSH access.
    public func sshArguments(on machine: MachineHandle? = nil) throws -> [String]? {
        guard let table = extensionTable(HOST_SSH_V1, as: host_ssh_v1.self, on: machine) else { return nil }
        try start(machine)
        guard let argv = table.arguments(raw, backendObject(machine)) else { throw HostServiceFailed() }
        var arguments: [String] = []
        while let argument = argv[arguments.count] { arguments.append(String(cString: argument)) }
        return arguments
    }

    /// The raw call, to pass to a backend extension's functions.
    public var rawCall: UnsafeMutablePointer<host_call> { raw }
}

/// Lends `strings` to C as a `const char *const *` for the closure's duration.
func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let copies = strings.map { strdup($0) }
    defer { copies.forEach { free($0) } }
    // The NULL terminator keeps the array non-empty, so baseAddress is never nil.
    return (copies.map { UnsafePointer($0) } + [nil]).withUnsafeBufferPointer { body($0.baseAddress!) }
}
