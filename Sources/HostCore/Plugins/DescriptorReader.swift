import Foundation
import HostModel
import PluginABI

/// Turns the C descriptor a plugin returned into validated Swift values.
/// Everything in it is untrusted: sizes are checked before fields are read,
/// only the fields this host knows are copied, and every rule of
/// host_plugin.h is checked before a step can be called.
struct Descriptor {
    let name: String
    let version: String
    let steps: [StepRecord]
    let entries: [String: host_step_entry]
    /// A copy of each backend step's table, taken under the struct_size rules.
    let backends: [String: host_backend]
}

enum DescriptorReader {
    struct Invalid: Error { let reason: String }

    /// Checks the file, dlopens it and reads what its entry function returns.
    /// Runs a plugin's code: the parent process does it only for a file the
    /// scanner already read without crashing.
    static func load(_ path: String) throws -> Descriptor {
        if let problem = ELFCheck.problem(with: path) { throw Invalid(reason: "the file \(problem)") }
        let library = try DynamicLibrary.open(path)
        guard let symbol = library.symbol(HOST_PLUGIN_ENTRY_V1) else {
            throw Invalid(reason: "it exports no \(HOST_PLUGIN_ENTRY_V1) function; a plugin must export it (see host_plugin.h)")
        }
        let entry = unsafeBitCast(symbol, to: host_plugin_entry_fn.self)
        guard let descriptor = entry() else { throw Invalid(reason: "its \(HOST_PLUGIN_ENTRY_V1) returned NULL") }
        return try read(UnsafeRawPointer(descriptor))
    }

    static func read(_ raw: UnsafeRawPointer) throws -> Descriptor {
        let plugin: host_plugin = try copy(raw, minimum: MemoryLayout<host_plugin>.size, what: "the plugin descriptor")
        guard plugin.abi_major == UInt32(HOST_ABI_MAJOR) else {
            throw Invalid(reason: "it was built for plugin ABI \(plugin.abi_major).\(plugin.abi_minor) but this host speaks ABI \(HOST_ABI_MAJOR).x; rebuild it against this host's host_plugin.h")
        }
        guard plugin.abi_minor <= UInt32(HOST_ABI_MINOR) else {
            throw Invalid(reason: "it needs plugin ABI 1.\(plugin.abi_minor) but this host only knows 1.\(HOST_ABI_MINOR); upgrade host or rebuild the plugin against this host's header")
        }
        guard let namePointer = plugin.name, !String(cString: namePointer).isEmpty else {
            throw Invalid(reason: "its descriptor has no plugin name")
        }
        let name = String(cString: namePointer)
        guard plugin.step_count <= 1024, plugin.step_count == 0 || plugin.steps != nil else {
            throw Invalid(reason: "its descriptor claims \(plugin.step_count) steps but gives no valid step array")
        }
        var steps: [StepRecord] = []
        var entries: [String: host_step_entry] = [:], backends: [String: host_backend] = [:]
        for index in 0..<plugin.step_count {
            guard let stepPointer = plugin.steps[index] else {
                throw Invalid(reason: "step #\(index) is a NULL pointer")
            }
            let (step, entry, backend) = try readStep(UnsafeRawPointer(stepPointer), index: index, abiMinor: plugin.abi_minor)
            guard entries.updateValue(entry, forKey: step.name) == nil else {
                throw Invalid(reason: "it declares step \(step.name) twice; each step name must be unique")
            }
            backends[step.name] = backend
            steps.append(step)
        }
        return Descriptor(name: name, version: plugin.version.map { String(cString: $0) } ?? "", steps: steps,
                          entries: entries, backends: backends)
    }

    /// Copies at most what this host knows into a zeroed struct (OBS-style),
    /// refusing one smaller than its v1 size.
    private static func copy<T>(_ raw: UnsafeRawPointer, minimum: Int, what: String) throws -> T {
        let declared = raw.load(as: Int.self)
        guard declared >= minimum else {
            throw Invalid(reason: "\(what) has struct_size \(declared), smaller than the \(minimum) bytes of ABI v1; set struct_size = sizeof(...) from host_plugin.h")
        }
        // A size that ends inside a field would tear it: half a pointer is
        // an address nobody gave (found by Fuzz/FuzzDescriptor).
        guard declared % MemoryLayout<T>.alignment == 0 else {
            throw Invalid(reason: "\(what) has struct_size \(declared), which ends inside a field; set struct_size = sizeof(...) from host_plugin.h")
        }
        let value = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<T>.size, alignment: MemoryLayout<T>.alignment)
        defer { value.deallocate() }
        value.initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<T>.size)
        value.copyMemory(from: raw, byteCount: min(declared, MemoryLayout<T>.size))
        return value.load(as: T.self)
    }

    private static func validName(_ name: String, dotted: Bool) -> Bool {
        guard let first = name.unicodeScalars.first, ("a"..."z").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "-" || (dotted && $0 == ".")
        }
    }

    private static let knownRequiredFlags = HOST_STEP_TRANSIENT | HOST_STEP_TRANSIENT_WHEN_LAST
        | HOST_STEP_STARTS_PIPELINE | HOST_STEP_BACKEND | HOST_STEP_NO_SAVE

    private static func readStep(_ raw: UnsafeRawPointer, index: Int, abiMinor: UInt32) throws -> (StepRecord, host_step_entry, host_backend?) {
        let step: host_step = try copy(raw, minimum: stepV1Size, what: "step #\(index)")
        guard let namePointer = step.name else { throw Invalid(reason: "step #\(index) has a NULL name") }
        let name = String(cString: namePointer)
        guard !name.isEmpty else { throw Invalid(reason: "step #\(index) has an empty name") }
        guard validName(name, dotted: true), !name.hasSuffix("."), !name.contains("..") else {
            throw Invalid(reason: "step name \"\(name)\" is not lower-case dotted words (like os.debian)")
        }
        let unknown = step.flags & HOST_STEP_REQUIRED_MASK & ~knownRequiredFlags
        guard unknown == 0 else {
            throw Invalid(reason: "step \(name) sets required flag 0x\(String(unknown, radix: 16)), which this host does not know; upgrade host")
        }
        if step.flags & HOST_STEP_TRANSIENT != 0 && step.flags & (HOST_STEP_TRANSIENT_WHEN_LAST | HOST_STEP_BACKEND) != 0 {
            throw Invalid(reason: "step \(name) is marked transient together with transient-when-last or backend; pick one")
        }
        let isBackend = step.flags & HOST_STEP_BACKEND != 0
        guard isBackend == (step.backend != nil) else {
            throw Invalid(reason: "step \(name) must set both the backend flag and the backend table, or neither")
        }
        if step.flags & (HOST_STEP_STARTS_PIPELINE | HOST_STEP_BACKEND) != 0 && CommandWords.contains(name) {
            throw Invalid(reason: "step \(name) starts a pipeline, but `host \(name)` is host's command of that name (HOST_COMMAND_WORDS in host_plugin.h); rename the step, for example to \(name).step or a name with your plugin's prefix")
        }
        if step.flags & HOST_STEP_NO_SAVE != 0 && !isBackend {
            throw Invalid(reason: "step \(name) sets the no-save flag, which only a backend step may")
        }
        let needs = try readNeeds(step.needs, step: name)
        let backend = try step.backend.map { try readBackend(UnsafeRawPointer($0), step: name) }
        guard let entry = step.entry else { throw Invalid(reason: "step \(name) has no entry function") }
        guard step.default_expiry >= 0 else { throw Invalid(reason: "step \(name) has a negative default expiry") }
        guard step.param_count <= 32, step.param_count == 0 || step.params != nil else {
            throw Invalid(reason: "step \(name) declares \(step.param_count) parameters; at most 32, in a non-NULL array")
        }
        var parameters: [ParameterInfo] = []
        for position in 0..<step.param_count {
            guard let paramPointer = step.params[position] else {
                throw Invalid(reason: "step \(name): parameter #\(position) is a NULL pointer")
            }
            let parameter = try readParameter(UnsafeRawPointer(paramPointer), step: name, position: position, isBackend: isBackend,
                                              abiMinor: abiMinor)
            if parameters.contains(where: { $0.name == parameter.name }) {
                throw Invalid(reason: "step \(name) declares parameter \(parameter.name) twice")
            }
            if parameter.type == .rest || parameter.type == .kwargs,
               parameters.contains(where: { $0.type == parameter.type }) {
                throw Invalid(reason: "step \(name) declares more than one \(parameter.type) parameter")
            }
            parameters.append(parameter)
        }
        let offers = backend.map { table in StepRecord.knownCapabilities.filter { table.extension?($0) != nil }.sorted() } ?? []
        let record = StepRecord(name: name, summary: step.summary.map { String(cString: $0) } ?? "", flags: step.flags,
                                expiry: step.default_expiry, parameters: parameters, needs: needs, offers: offers)
        return (record, entry, backend)
    }

    /// host_step.needs: extension ids, NULL-terminated, like "host.vm/1".
    private static func readNeeds(_ list: UnsafePointer<UnsafePointer<CChar>?>?, step: String) throws -> [String] {
        guard let list else { return [] }
        var needs: [String] = []
        while let id = list[needs.count] {
            let text = String(cString: id)
            guard needs.count < 16, text.contains("/"), text.count <= 64 else {
                throw Invalid(reason: "step \(step): its needs must be at most 16 extension ids such as \"host.vm/1\", NULL-terminated")
            }
            needs.append(text)
        }
        return needs
    }

    private static func readBackend(_ raw: UnsafeRawPointer, step: String) throws -> host_backend {
        let table: host_backend = try copy(raw, minimum: backendV1Size, what: "the backend table of \(step)")
        let required: [(String, Bool)] = [
            ("create or create_with", table.create != nil || table.create_with != nil), ("clone", table.clone != nil), ("up", table.up != nil),
            ("down", table.down != nil), ("drop", table.drop != nil), ("exec", table.exec != nil),
            ("upload", table.upload != nil), ("download", table.download != nil),
            ("console_send", table.console_send != nil), ("console_read", table.console_read != nil),
        ]
        if let missing = required.first(where: { !$0.1 }) {
            throw Invalid(reason: "the backend table of \(step) has no \(missing.0) function")
        }
        return table
    }

    /// The v1 sizes (HOST_*_V1_SIZE), which Swift cannot import (they use
    /// offsetof): a 1.0 backend ends at `check`, a 1.0-1.2 step at `backend`.
    // The key paths name stored fields of imported C structs, whose offsets always exist.
    private static let backendV1Size = MemoryLayout<host_backend>.offset(of: \host_backend.check)! + MemoryLayout<UnsafeRawPointer>.size
    private static let stepV1Size = MemoryLayout<host_step>.offset(of: \host_step.backend)! + MemoryLayout<UnsafeRawPointer>.size

    private static func readParameter(_ raw: UnsafeRawPointer, step: String, position: Int, isBackend: Bool,
                                      abiMinor: UInt32) throws -> ParameterInfo {
        let param: host_param = try copy(raw, minimum: paramV1Size, what: "step \(step) parameter #\(position)")
        guard let namePointer = param.name, validName(String(cString: namePointer), dotted: false) else {
            throw Invalid(reason: "step \(step): parameter #\(position) needs a name of lower-case letters, digits, _ and -")
        }
        let name = String(cString: namePointer)
        // "cache" became host's in 1.3; a 1.2 plugin may still declare it.
        guard name != "transient" && (name != "cache" || abiMinor < 3) else {
            throw Invalid(reason: "step \(step): parameter name \"\(name)\" is reserved for host's --\(name)")
        }
        guard let type = ParameterType(param.type) else {
            throw Invalid(reason: "step \(step): parameter \(name) has unknown type \(param.type.rawValue)")
        }
        let defaultText = param.default_value.map { String(cString: $0) }
        var defaultValue: ArgumentValue?
        if let defaultText {
            guard type != .kwargs else {
                throw Invalid(reason: "step \(step): kwargs parameter \(name) cannot have a default")
            }
            do {
                defaultValue = try ArgumentValue.parseDefault(defaultText, as: type)
            } catch {
                throw Invalid(reason: "step \(step): the default of \(type) parameter \(name) is \"\(defaultText)\", which is not a valid \(type)")
            }
        } else if type == .kwargs {
            defaultValue = .pairs([])
        }
        if type == .path && abiMinor < 6 {
            throw Invalid(reason: "step \(step): parameter \(name) is a path, which needs plugin ABI 1.6; declare abi_minor 6")
        }
        let known = HOST_PARAM_RUNTIME | HOST_PARAM_NAMED_ONLY | HOST_PARAM_BOUNDED | HOST_PARAM_WITH_FOLDER
        guard param.flags & ~known == 0 else {
            throw Invalid(reason: "step \(step): parameter \(name) sets flag 0x\(String(param.flags & ~known, radix: 16)), which this host does not know; upgrade host")
        }
        let isRuntime = param.flags & HOST_PARAM_RUNTIME != 0
        if isRuntime && !isBackend {
            throw Invalid(reason: "step \(step): parameter \(name) is run-time only, which only a backend step's parameters may be")
        }
        if param.flags & HOST_PARAM_NAMED_ONLY != 0 && !type.isPositional {
            throw Invalid(reason: "step \(step): \(type) parameter \(name) cannot be named-only")
        }
        let withFolder = param.flags & HOST_PARAM_WITH_FOLDER != 0
        if withFolder && type != .path {
            throw Invalid(reason: "step \(step): parameter \(name) sets HOST_PARAM_WITH_FOLDER, which only a path parameter may")
        }
        var range: ClosedRange<Int64>?, realRange: ClosedRange<Double>?
        if param.flags & HOST_PARAM_BOUNDED != 0 {
            switch type {
            case .int where param.minimum <= param.maximum:
                range = param.minimum...param.maximum
                if case let .int(value)? = defaultValue, !(param.minimum...param.maximum).contains(value) {
                    throw Invalid(reason: "step \(step): the default \(value) of parameter \(name) lies outside its range \(param.minimum)...\(param.maximum)")
                }
            // A 1.5 plugin's host_param ends before the double bounds, which then read as zero.
            case .double where abiMinor >= 6 && param.minimum_double <= param.maximum_double:
                realRange = param.minimum_double...param.maximum_double
                if case let .double(value)? = defaultValue, !(realRange?.contains(value) ?? true) {
                    throw Invalid(reason: "step \(step): the default \(value) of parameter \(name) lies outside its range \(param.minimum_double)...\(param.maximum_double)")
                }
            default:
                throw Invalid(reason: "step \(step): parameter \(name) is bounded, which needs an int parameter with minimum <= maximum, or (ABI 1.6) a double one with minimum_double <= maximum_double")
            }
        }
        return ParameterInfo(name: name, type: type, defaultText: defaultText, defaultValue: defaultValue,
                             help: param.help.map { String(cString: $0) } ?? "",
                             isRuntime: isRuntime, isNamedOnly: param.flags & HOST_PARAM_NAMED_ONLY != 0, range: range,
                             realRange: realRange, withFolder: withFolder)
    }

    /// HOST_PARAM_V1_SIZE: a 1.0-1.2 parameter ends at `help`.
    // The key path names a stored field of an imported C struct, whose offset always exists.
    private static let paramV1Size = MemoryLayout<host_param>.offset(of: \host_param.help)! + MemoryLayout<UnsafeRawPointer>.size
}
