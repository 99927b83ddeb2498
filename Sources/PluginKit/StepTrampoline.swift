#if canImport(Glibc)
import Glibc
#endif
import CFFI
import PluginABI

/// Gives a Swift step closure a real C entry point with exactly the C
/// signature its declared parameters describe (host_step_entry in
/// host_plugin.h). libffi builds the function at load time; its generic
/// handler unpacks the arguments by the declared types and runs the closure.
enum StepTrampoline {
    /// Owns what the libffi closure points to; kept alive for the process
    /// lifetime, as the entry may be called at any time.
    final class Context {
        let step: Step
        /// libffi keeps using the cif after prep, so it lives in its own allocation.
        let cif = UnsafeMutablePointer<ffi_cif>.allocate(capacity: 1)
        let argumentTypes: UnsafeMutablePointer<UnsafeMutablePointer<ffi_type>?>

        init(step: Step) {
            self.step = step
            cif.initialize(to: ffi_cif())
            let kinds = step.parameters.map(\.kind)
            argumentTypes = .allocate(capacity: 3 + kinds.count)
            for index in 0..<3 { argumentTypes[index] = cffi_type_pointer() }
            for (index, kind) in kinds.enumerated() { argumentTypes[3 + index] = StepTrampoline.ffiType(kind) }
        }
    }

    static func ffiType(_ kind: Parameter.Kind) -> UnsafeMutablePointer<ffi_type> {
        switch kind {
        case .string, .path, .list, .rest, .kwargs: cffi_type_pointer()
        case .int: cffi_type_sint64()
        case .bool: cffi_type_uint8()
        case .double: cffi_type_double()
        }
    }

    static func make(for step: Step) -> host_step_entry {
        let context = Context(step: step)
        let status = ffi_prep_cif(context.cif, cffi_default_abi(), UInt32(3 + step.parameters.count),
                                  cffi_type_sint32(), context.argumentTypes)
        var code: UnsafeMutableRawPointer?
        guard status == FFI_OK,
              let closure = ffi_closure_alloc(cffi_closure_size(), &code)?.assumingMemoryBound(to: ffi_closure.self),
              let code,
              ffi_prep_closure_loc(closure, context.cif, handler,
                                   Unmanaged.passRetained(context).toOpaque(), code) == FFI_OK
        else {
            // Only an out-of-memory machine gets here, while the plugin loads.
            fatalError("PluginKit: libffi could not build the entry point of \(step.name)")
        }
        return unsafeBitCast(code, to: host_step_entry.self)
    }

    private static let handler: @convention(c) (
        UnsafeMutablePointer<ffi_cif>?, UnsafeMutableRawPointer?,
        UnsafeMutablePointer<UnsafeMutableRawPointer?>?, UnsafeMutableRawPointer?
    ) -> Void = { _, returnValue, args, userData in
        guard let returnValue, let args, let userData else { return }
        let context = Unmanaged<Context>.fromOpaque(userData).takeUnretainedValue()
        // libffi wants return values narrower than a register stored as a whole ffi_arg.
        let status = invoke(context.step, args)
        returnValue.storeBytes(of: Int(status.rawValue), as: Int.self)
    }

    private static func invoke(_ step: Step, _ args: UnsafeMutablePointer<UnsafeMutableRawPointer?>) -> host_status {
        guard let call = args[0]?.load(as: UnsafeMutablePointer<host_call>?.self),
              let machine = args[1]?.load(as: OpaquePointer?.self),
              let result = args[2]?.load(as: UnsafeMutablePointer<OpaquePointer?>?.self)
        else { return HOST_ERROR }
        var arguments: [String: Argument] = [:]
        for (index, parameter) in step.parameters.enumerated() {
            guard let slot = args[3 + index] else { return HOST_ERROR }
            arguments[parameter.name] = decode(parameter.kind, slot)
        }
        do {
            result.pointee = try step.run(StepCall(raw: call, machine: MachineHandle(handle: machine), arguments: Arguments(arguments)))?.handle
            return HOST_OK
        } catch is HostServiceFailed {
            return HOST_ERROR // host already holds the message
        } catch {
            call.pointee.services.pointee.set_error(call, SystemErrorText.describe(error))
            return StepError.status(of: error)
        }
    }

    private static func decode(_ kind: Parameter.Kind, _ slot: UnsafeMutableRawPointer) -> Argument {
        switch kind {
        case .string, .path:
            return .string(slot.load(as: UnsafePointer<CChar>?.self).map { String(cString: $0) } ?? "")
        case .int:
            return .int(slot.load(as: Int64.self))
        case .bool:
            return .bool(slot.load(as: UInt8.self) != 0)
        case .double:
            return .double(slot.load(as: Double.self))
        case .list, .rest:
            return .list(slot.load(as: UnsafePointer<host_string_list>?.self)?.pointee.strings ?? [])
        case .kwargs:
            return .pairs(slot.load(as: UnsafePointer<host_kv_list>?.self)?.pointee.pairs ?? [])
        }
    }
}
