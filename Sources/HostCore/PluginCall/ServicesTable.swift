import Foundation
import ChildProcess
import HostModel
import PluginABI

/// The host_services vtable every call carries. Each entry finds its
/// CallContext, checks the machine pointer, and hands the work to the
/// call's HostServices; failures are recorded on the context and
/// returned as HOST_ERROR.
enum ServicesTable {
    private static func run(_ call: UnsafeMutablePointer<host_call>?, _ body: (CallContext) throws -> Void) -> host_status {
        guard let context = CallContext.from(call) else { return HOST_ERROR }
        return CrashReport.serving {
            do {
                try body(context)
                return HOST_OK
            } catch {
                context.error = SystemErrorText.describe(error)
                if let failed = (error as? HostError)?.failedRestore { context.failedRestore = failed }
                return HOST_ERROR
            }
        }
    }

    private static func machine(_ context: CallContext, _ handle: OpaquePointer?) throws -> TrackedMachine {
        guard let machine = context.machine(handle) else {
            throw HostError(.plugin, "\(context.stepName) passed a machine that is not its own (or no longer exists)")
        }
        return machine
    }

    private static func string(_ pointer: UnsafePointer<CChar>?, _ what: String) throws -> String {
        guard let pointer else { throw HostError(.plugin, "\(what) is NULL") }
        return String(cString: pointer)
    }

    nonisolated(unsafe) static let table: UnsafePointer<host_services> = {
        let table = UnsafeMutablePointer<host_services>.allocate(capacity: 1)
        table.initialize(to: host_services(
            struct_size: MemoryLayout<host_services>.size,
            log: { call, level, message in
                guard let context = CallContext.from(call), let message else { return }
                context.services.log(context, level, String(cString: message))
            },
            set_error: { call, message in
                CallContext.from(call)?.error = message.map { String(cString: $0) } ?? "unknown error"
            },
            exec: { call, handle, command, flags, result in
                run(call) { context in
                    // Every field is v1's: a smaller struct_size is a plugin that forgot to set it.
                    if let result, result.pointee.struct_size < MemoryLayout<host_exec_result>.size {
                        throw HostError(.plugin, "exec: host_exec_result.struct_size is \(result.pointee.struct_size); set it to sizeof(host_exec_result) before the call")
                    }
                    let output = try context.services.exec(context, machine(context, handle), string(command, "exec command"),
                                                         stream: flags & HOST_EXEC_STREAM != 0)
                    guard let result else { return }
                    result.pointee.exit_status = output.status
                    (result.pointee.out, result.pointee.out_len) = context.keep(output.out)
                    (result.pointee.err, result.pointee.err_len) = context.keep(output.err)
                }
            },
            upload: { call, handle, local, remote in
                run(call) { try $0.services.transfer($0, machine($0, handle), upload: true,
                                                   string(local, "upload source"), string(remote, "upload destination")) }
            },
            download: { call, handle, remote, local in
                run(call) { try $0.services.transfer($0, machine($0, handle), upload: false,
                                                   string(local, "download destination"), string(remote, "download source")) }
            },
            console_send: { call, handle, data, length in
                run(call) { context in
                    let bytes = data.map { Array(UnsafeRawBufferPointer(start: $0, count: length)) } ?? []
                    try context.services.consoleSend(context, machine(context, handle), bytes)
                }
            },
            console_expect: { call, handle, pattern, flags, timeout in
                run(call) { try $0.services.consoleExpect($0, machine($0, handle), string(pattern, "expect pattern"),
                                                        regex: flags & HOST_EXPECT_REGEX != 0, timeoutMs: timeout) }
            },
            apply: { call, handle, argc, argv, result in
                run(call) { context in
                    guard let argv, argc > 0 else { throw HostError(.plugin, "apply needs at least a step name") }
                    let words = try (0..<argc).map { try string(argv[$0], "apply word #\($0)") }
                    let applied = try context.services.apply(context, machine(context, handle), words)
                    result?.pointee = applied.handle
                }
            },
            depend_file: { call, path in
                run(call) { context in
                    // A relative path stays relative (ABI 1.6): checked where the next run is.
                    let given = try string(path, "dependency path")
                    let path = given.hasPrefix("/") ? URL(fileURLWithPath: given).standardizedFileURL.path : given
                    context.dependencies.append(try .of(path))
                }
            },
            cap_expiry: { call, seconds in
                guard let context = CallContext.from(call) else { return }
                context.expiryCap = min(context.expiryCap ?? .max, max(seconds, 0))
            },
            set_exit_status: { call, status in
                CallContext.from(call)?.services.setExitStatus(status)
            },
            backend_machine: { call, handle in
                CallContext.from(call)?.machine(handle)?.object
            },
            extension: { call, handle, id in
                guard let context = CallContext.from(call), let machine = context.machine(handle), let id else { return nil }
                return context.services.extensionTable(machine, String(cString: id))
            },
            start: { call, handle in
                run(call) { try $0.services.start($0, machine($0, handle)) }
            },
            identity: { call in
                guard let context = CallContext.from(call) else { return nil }
                do {
                    return try context.services.identity()
                } catch {
                    context.error = SystemErrorText.describe(error)
                    return nil
                }
            },
            console_read: { call, handle, buffer, capacity, timeout, length in
                run(call) { context in
                    let bytes = try context.services.consoleRead(context, machine(context, handle), capacity: capacity, timeoutMs: timeout)
                    bytes.withUnsafeBytes { source in
                        if let buffer, let first = source.baseAddress {
                            UnsafeMutableRawPointer(buffer).copyMemory(from: first, byteCount: source.count)
                        }
                    }
                    length?.pointee = bytes.count
                }
            },
            fetch: { call, url, checksum in
                guard let context = CallContext.from(call) else { return nil }
                do {
                    let path = try context.services.fetch(context, url: try string(url, "url"),
                                                        checksum: checksum.map { String(cString: $0) })
                    return context.keep(Data(path.utf8)).0
                } catch {
                    context.error = SystemErrorText.describe(error)
                    return nil
                }
            },
            checkpoint: { call, handle, key, description, result in
                run(call) { context in
                    let saved = try context.services.checkpoint(context, machine(context, handle), key: string(key, "checkpoint key"),
                                                                description: string(description, "checkpoint description"))
                    result?.pointee = saved.handle
                }
            },
            resume: { call, key in
                guard let context = CallContext.from(call) else { return nil }
                do {
                    return try context.services.resume(context, key: try string(key, "checkpoint key"))?.handle
                } catch {
                    context.error = SystemErrorText.describe(error)
                    context.services.log(context, HOST_LOG_WARNING, "no checkpoint to resume: \(error)")
                    return nil
                }
            },
            discard: { call, handle in
                guard let context = CallContext.from(call) else { return }
                do {
                    try context.services.drop(context, machine(context, handle))
                } catch {
                    context.services.log(context, HOST_LOG_WARNING, SystemErrorText.describe(error))
                }
            }))
        return UnsafePointer(table)
    }()
}
