import CFFI
import Foundation
import HostModel
import PluginABI

/// Calls a step's entry through libffi with the C signature its descriptor
/// declared: (host_call *, host_machine *, host_machine **, params...).
/// The descriptor was validated at load time, so the signature built here
/// is exactly the one the plugin documented.
enum FFIInvoker {
    static func call(_ entry: host_step_entry, _ values: [ArgumentValue], call: UnsafeMutablePointer<host_call>,
                     machine: OpaquePointer?, result: UnsafeMutablePointer<OpaquePointer?>) -> host_status {
        let arena = CArena()
        var types: [UnsafeMutablePointer<ffi_type>?] = [cffi_type_pointer(), cffi_type_pointer(), cffi_type_pointer()]
        var arguments: [UnsafeMutableRawPointer?] = [arena.store(call), arena.store(machine), arena.store(result)]
        for value in values {
            switch value {
            case let .string(s), let .path(s, _):
                types.append(cffi_type_pointer()); arguments.append(arena.store(arena.string(s)))
            case let .int(i):
                types.append(cffi_type_sint64()); arguments.append(arena.store(i))
            case let .bool(b):
                types.append(cffi_type_uint8()); arguments.append(arena.store(UInt8(b ? 1 : 0)))
            case let .double(d):
                types.append(cffi_type_double()); arguments.append(arena.store(d))
            case let .list(items):
                types.append(cffi_type_pointer()); arguments.append(arena.store(arena.stringList(items)))
            case let .pairs(pairs):
                types.append(cffi_type_pointer()); arguments.append(arena.store(arena.kvList(pairs)))
            }
        }
        // The cif keeps a pointer to the type array, so both live in buffers
        // that stay put until ffi_call returns.
        let typeBuffer = UnsafeMutablePointer<UnsafeMutablePointer<ffi_type>?>.allocate(capacity: types.count)
        typeBuffer.initialize(from: types, count: types.count)
        let argumentBuffer = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: arguments.count)
        argumentBuffer.initialize(from: arguments, count: arguments.count)
        defer { typeBuffer.deallocate(); argumentBuffer.deallocate() }
        var cif = ffi_cif()
        guard ffi_prep_cif(&cif, cffi_default_abi(), UInt32(types.count), cffi_type_sint32(), typeBuffer) == FFI_OK else {
            return HOST_ERROR
        }
        var returned: Int = 0 // an ffi_arg: libffi widens the int32 status to a full register
        ffi_call(&cif, entry, &returned, argumentBuffer)
        switch UInt32(truncatingIfNeeded: returned) {
        case HOST_OK.rawValue: return HOST_OK
        case HOST_USAGE_ERROR.rawValue: return HOST_USAGE_ERROR
        default: return HOST_ERROR
        }
    }
}
