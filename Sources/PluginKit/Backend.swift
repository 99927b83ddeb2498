#if canImport(Glibc)
import Glibc
#endif
import PluginABI

/// The context of a call from host into a backend: logging and errors.
public struct BackendCall {
    let raw: UnsafeMutablePointer<host_call>

    /// For backend extension functions, which receive the raw call.
    public init(raw: UnsafeMutablePointer<host_call>) { self.raw = raw }
    public func log(_ message: String, level: LogLevel = .info) {
        raw.pointee.services.pointee.log(raw, level.abi, message)
    }

    /// This user's SSH private key for machines (".pub" beside it).
    public func identity() throws -> String {
        guard let path = raw.pointee.services.pointee.identity(raw) else { throw HostServiceFailed() }
        return String(cString: path)
    }
}

/// A machine as a Swift backend implements it (see host_backend in
/// host_plugin.h for what each operation must do).
public protocol BackendMachine: AnyObject {
    func up(_ call: BackendCall) throws
    func down(_ call: BackendCall) throws
    /// Stop without saving; the last call for this machine.
    func drop(_ call: BackendCall)
    /// Runs the command, hands each chunk of output to `output` (stream 1 or
    /// 2) and returns the exit status.
    func exec(_ call: BackendCall, _ command: String, output: (Int32, UnsafeRawBufferPointer) -> Void) throws -> Int32
    func upload(_ call: BackendCall, from localPath: String, to machinePath: String) throws
    func download(_ call: BackendCall, from machinePath: String, to localPath: String) throws
    func consoleSend(_ call: BackendCall, _ bytes: UnsafeRawBufferPointer) throws
    /// What the console printed, waiting up to `timeoutMs` for the first byte.
    func consoleRead(_ call: BackendCall, into buffer: UnsafeMutableRawBufferPointer, timeoutMs: Int64) throws -> Int
    func describe() -> String?
    /// The backend step's run-time arguments for this run (host_backend's
    /// set_run_arguments), every time the machine is made or restored.
    func setRunArguments(_ call: BackendCall, _ arguments: Arguments) throws
    /// (1.7) The host processes the running machine is made of (its
    /// memory, and whether it still runs); nil when the backend cannot say.
    func processes() -> [Int32]?
    /// (1.7) Runs the command with `input` as its standard input (ExecInput.swift).
    func exec(_ call: BackendCall, _ command: String, input: [UInt8], output: (Int32, UnsafeRawBufferPointer) -> Void) throws -> Int32
}

extension BackendMachine {
    public func setRunArguments(_ call: BackendCall, _ arguments: Arguments) throws {}
    public func processes() -> [Int32]? { nil }
}

/// A Swift backend: how to make new machines and clones of saved ones.
public protocol Backend: Sendable {
    /// A new machine in `directory`, configured by the backend step's arguments.
    func create(_ call: BackendCall, directory: String, arguments: Arguments) throws -> BackendMachine
    func clone(_ call: BackendCall, from source: String, to destination: String) throws -> BackendMachine
    /// A backend extension by versioned id; nil when not offered.
    func extensionTable(_ id: String) -> UnsafeRawPointer?
    /// Throws when the saved machine in `directory` cannot be cloned any more.
    func check(_ call: BackendCall, directory: String) throws
    /// The machine in `directory` (saved, or a dead run's build) leaves the
    /// cache: release what is kept for it elsewhere.
    func forget(_ call: BackendCall, directory: String)
}

extension Backend {
    public func extensionTable(_ id: String) -> UnsafeRawPointer? { nil }
    public func check(_ call: BackendCall, directory: String) throws {}
    public func forget(_ call: BackendCall, directory: String) {}
}

/// The Swift machine behind the `void *` an extension function receives.
public func backendMachine<T>(_ raw: UnsafeMutableRawPointer?, as type: T.Type) -> T? {
    BackendBridge.box(raw)?.machine as? T
}

/// The C vtable every Swift backend plugin exports. Each plugin .so has its
/// own copy of PluginKit, so this one-backend-per-plugin state is the
/// plugin's own.
enum BackendBridge {
    nonisolated(unsafe) static var backend: (any Backend)?

    static func install(_ backend: any Backend) { self.backend = backend }

    /// Keeps the last `describe` string alive until the next call, as the
    /// header promises.
    final class Box {
        let machine: BackendMachine
        var description: UnsafeMutablePointer<CChar>?
        init(_ machine: BackendMachine) { self.machine = machine }
        deinit { free(description) }
    }

    static func box(_ pointer: UnsafeMutableRawPointer?) -> Box? {
        pointer.map { Unmanaged<Box>.fromOpaque($0).takeUnretainedValue() }
    }

    /// Runs `body`, turning a thrown error into set_error + HOST_ERROR.
    static func guarded(_ call: UnsafeMutablePointer<host_call>?, _ body: (BackendCall) throws -> Void) -> host_status {
        guard let call else { return HOST_ERROR }
        do {
            try body(BackendCall(raw: call))
            return HOST_OK
        } catch is HostServiceFailed {
            return HOST_ERROR
        } catch {
            call.pointee.services.pointee.set_error(call, SystemErrorText.describe(error))
            return StepError.status(of: error)
        }
    }

    static func made(_ machine: BackendMachine, _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>?) {
        out?.pointee = Unmanaged.passRetained(Box(machine)).toOpaque()
    }

    // Written once, then only read: host calls plugins on one thread.
    nonisolated(unsafe) static let vtable: UnsafePointer<host_backend> = {
        let table = UnsafeMutablePointer<host_backend>.allocate(capacity: 1)
        table.initialize(to: host_backend(
            struct_size: MemoryLayout<host_backend>.size,
            create: nil, // create_with: a machine is configured where it is made

            clone: { call, source, destination, out in
                guarded(call) { c in
                    guard let backend, let source, let destination else { throw StepError("backend not installed") }
                    made(try backend.clone(c, from: String(cString: source), to: String(cString: destination)), out)
                }
            },
            up: { call, machine in guarded(call) { try box(machine)?.machine.up($0) } },
            down: { call, machine in guarded(call) { try box(machine)?.machine.down($0) } },
            drop: { call, machine in
                guard let call, let machine else { return }
                Unmanaged<Box>.fromOpaque(machine).takeRetainedValue().machine.drop(BackendCall(raw: call))
            },
            exec: { call, machine, command, output, status in
                guarded(call) { c in
                    guard let box = box(machine), let command, let output else { return }
                    let sink = output.pointee
                    let code = try box.machine.exec(c, String(cString: command)) { stream, bytes in
                        sink.write(sink.context, stream, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count)
                    }
                    status?.pointee = code
                }
            },
            upload: { call, machine, local, remote in
                guarded(call) { c in
                    guard let local, let remote else { return }
                    try box(machine)?.machine.upload(c, from: String(cString: local), to: String(cString: remote))
                }
            },
            download: { call, machine, remote, local in
                guarded(call) { c in
                    guard let local, let remote else { return }
                    try box(machine)?.machine.download(c, from: String(cString: remote), to: String(cString: local))
                }
            },
            console_send: { call, machine, data, length in
                guarded(call) { c in
                    try box(machine)?.machine.consoleSend(c, UnsafeRawBufferPointer(start: data, count: length))
                }
            },
            console_read: { call, machine, buffer, capacity, timeout, length in
                guarded(call) { c in
                    let got = try box(machine)?.machine.consoleRead(
                        c, into: UnsafeMutableRawBufferPointer(start: buffer, count: capacity), timeoutMs: timeout) ?? 0
                    length?.pointee = got
                }
            },
            describe: { _, machine in
                guard let box = box(machine) else { return nil }
                free(box.description)
                box.description = box.machine.describe().map { strdup($0) }
                return UnsafePointer(box.description)
            },
            extension: { id in
                guard let id else { return nil }
                return backend?.extensionTable(String(cString: id))
            },
            check: { call, dir in
                guarded(call) { c in
                    guard let backend, let dir else { return }
                    try backend.check(c, directory: String(cString: dir))
                }
            },
            forget: { call, dir in
                guard let backend, let call, let dir else { return }
                backend.forget(BackendCall(raw: call), directory: String(cString: dir))
            },
            create_with: { call, dir, arguments, out in
                guarded(call) { c in
                    guard let backend, let dir else { throw StepError("backend not installed") }
                    made(try backend.create(c, directory: String(cString: dir), arguments: Arguments(arguments)), out)
                }
            },
            set_run_arguments: { call, machine, arguments in
                guarded(call) { try box(machine)?.machine.setRunArguments($0, Arguments(arguments)) }
            },
            processes: { call, machine, pids, capacity, count in
                guarded(call) { _ in
                    guard let list = box(machine)?.machine.processes() else { throw StepError("this machine's processes are not known") }
                    for (index, pid) in list.prefix(capacity).enumerated() { pids?[index] = pid }
                    count?.pointee = list.count
                }
            },
            exec_with: { call, machine, request, output, status in
                guarded(call) { c in
                    guard let box = box(machine), let request, let command = request.pointee.command, let output else { return }
                    if request.pointee.flags & HOST_EXEC_TTY != 0 { throw StepError("this backend gives commands no terminal") }
                    let input = request.pointee.input.map { Array(UnsafeRawBufferPointer(start: $0, count: request.pointee.input_length)) } ?? []
                    let sink = output.pointee
                    status?.pointee = try box.machine.exec(c, String(cString: command), input: input) { stream, bytes in
                        sink.write(sink.context, stream, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count)
                    }
                }
            },
            change: nil, clone_from: nil, detach: nil, attach: nil))
        return UnsafePointer(table)
    }()
}
