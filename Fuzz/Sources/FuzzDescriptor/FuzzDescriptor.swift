import FuzzInput
@testable import HostCore
@testable import HostModel
import PluginABI

/// A plugin's descriptor, as its entry function returns it: well-formed C
/// structs (every struct as long as this host's, every string terminated)
/// whose sizes, versions, counts, flags, types, names, defaults and
/// ranges the fuzzer chooses. The reader accepts it or names what is
/// wrong; it never reads past a struct or a string, and never traps.
func fuzzDescriptor(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    var input = FuzzInput(data, count)
    var memory = Arena()
    defer { memory.release() }
    let descriptor = memory.plugin(&input)
    do {
        let read = try DescriptorReader.read(UnsafeRawPointer(descriptor))
        precondition(read.steps.count == read.entries.count, "a step without its entry")
        for step in read.steps {
            precondition(step.parameters.count <= 32 && (step.flags & HOST_STEP_BACKEND != 0) == (read.backends[step.name] != nil))
            precondition(step.parameters.filter { $0.type == .rest }.count <= 1, "\(step.name): two rest parameters read")
            for parameter in step.parameters where parameter.isRequired {
                precondition(parameter.defaultValue == nil)
            }
        }
    } catch is DescriptorReader.Invalid {
        // Refused with a reason: what a broken plugin gets.
    } catch {
        preconditionFailure("the reader threw \(error)")
    }
    return 0
}

/// Never called: the reader only checks that entry points are there.
private let entry: host_step_entry = {}
private let somewhere = Int(bitPattern: unsafeBitCast(entry, to: UnsafeRawPointer.self))

/// Everything one descriptor points to, freed after the read.
struct Arena {
    private var blocks: [UnsafeMutableRawPointer] = []

    mutating func release() { blocks.forEach { $0.deallocate() } }

    /// `size` zeroed bytes, at least as many as T needs.
    private mutating func allocate<T>(_: T.Type, extra: Int = 0) -> UnsafeMutableRawPointer {
        let size = MemoryLayout<T>.size + extra
        let block = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        block.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        blocks.append(block)
        return block
    }

    /// A struct_size: this host's, an older (shorter) one, or any number
    /// at all, larger than what the host knows included.
    private func structSize<T>(_: T.Type, _ input: inout FuzzInput) -> Int {
        switch input.below(4) {
        case 0: MemoryLayout<T>.size - 8 * input.below(4)
        case 1: Int(input.uint32() & 0xfff)
        default: MemoryLayout<T>.size
        }
    }

    /// NULL, or a terminated string: a likely name or the fuzzer's bytes.
    private mutating func string(_ input: inout FuzzInput, _ likely: [String]) -> UnsafePointer<CChar>? {
        guard input.below(8) != 0 else { return nil }
        let bytes = input.below(3) == 0 ? input.bytes(limit: 40) : Array(likely[input.below(likely.count)].utf8)
        let block = UnsafeMutableRawPointer.allocate(byteCount: bytes.count + 1, alignment: 1)
        blocks.append(block)
        block.copyMemory(from: bytes + [0], byteCount: bytes.count + 1)
        return UnsafePointer(block.assumingMemoryBound(to: CChar.self))
    }

    /// An array of `count` pointers and a NULL after them; an element is
    /// NULL where the fuzzer says.
    private mutating func array<T>(_ count: Int, _ input: inout FuzzInput,
                                   _ element: (inout Arena, inout FuzzInput) -> UnsafePointer<T>?) -> UnsafePointer<UnsafePointer<T>?> {
        let block = UnsafeMutableRawPointer.allocate(byteCount: (count + 1) * 8, alignment: 8)
        blocks.append(block)
        let items = block.bindMemory(to: UnsafePointer<T>?.self, capacity: count + 1)
        for index in 0..<count { items[index] = input.below(16) == 0 ? nil : element(&self, &input) }
        items[count] = nil
        return UnsafePointer(items)
    }

    mutating func plugin(_ input: inout FuzzInput) -> UnsafePointer<host_plugin> {
        let block = allocate(host_plugin.self)
        var plugin = host_plugin()
        plugin.struct_size = structSize(host_plugin.self, &input)
        plugin.abi_major = input.below(8) == 0 ? UInt32(input.byte()) : UInt32(HOST_ABI_MAJOR)
        plugin.abi_minor = UInt32(input.below(Int(HOST_ABI_MINOR) + 2))
        plugin.name = string(&input, ["fuzz", "", "a.b"])
        plugin.version = string(&input, ["1.0"])
        let steps = input.below(4)
        plugin.step_count = input.below(16) == 0 ? Int(input.uint32()) | 0x800 : steps // over 1024, refused unread
        plugin.steps = input.below(16) == 0 ? nil : array(steps, &input) { arena, input in arena.step(&input) }
        block.storeBytes(of: plugin, as: host_plugin.self)
        return UnsafePointer(block.assumingMemoryBound(to: host_plugin.self))
    }

    private mutating func step(_ input: inout FuzzInput) -> UnsafePointer<host_step> {
        let block = allocate(host_step.self)
        var step = host_step()
        step.struct_size = structSize(host_step.self, &input)
        step.name = string(&input, ["exec", "os.debian", "backend.qemu", "Bad", "a..b", "a.", "exec"])
        step.summary = string(&input, ["does things"])
        let flags = [0, HOST_STEP_TRANSIENT, HOST_STEP_TRANSIENT_WHEN_LAST, HOST_STEP_STARTS_PIPELINE, HOST_STEP_BACKEND,
                     HOST_STEP_INTERACTIVE, HOST_STEP_NO_SAVE, HOST_STEP_REQUIRED_MASK]
        step.flags = (0..<input.below(3)).reduce(0) { value, _ in value | flags[input.below(flags.count)] }
            | (input.below(16) == 0 ? input.uint32() : 0)
        step.default_expiry = input.below(4) == 0 ? input.int64() : 0
        let parameters = input.below(6)
        // A count beyond the array must be one the reader refuses unread
        // (over 32): a struct claiming more than it has is no descriptor.
        step.param_count = input.below(16) == 0 ? Int(input.uint32()) | 0x40 : parameters
        step.params = input.below(16) == 0 ? nil : array(parameters, &input) { arena, input in arena.parameter(&input) }
        step.entry = input.below(16) == 0 ? nil : entry
        if input.below(3) == 0 { step.backend = backend(&input) }
        if input.bool() {
            step.needs = array(input.below(4), &input) { arena, input in
                arena.string(&input, ["host.vm/1", "host.container/1", "novendor", String(repeating: "a/", count: 40)])
            }
        }
        block.storeBytes(of: step, as: host_step.self)
        return UnsafePointer(block.assumingMemoryBound(to: host_step.self))
    }

    private mutating func parameter(_ input: inout FuzzInput) -> UnsafePointer<host_param> {
        let block = allocate(host_param.self)
        var param = host_param()
        param.struct_size = structSize(host_param.self, &input)
        param.name = string(&input, ["command", "memory", "cache", "transient", "name", "Bad Name", "x-y_1"])
        param.type = host_param_type(rawValue: input.below(8) == 0 ? UInt32(input.byte()) : UInt32(input.below(7)))
        param.default_value = input.bool() ? nil : string(&input, ["512", "true", "no", "1.5", "a,b", "", "-3", "99999999999999999999"])
        param.help = string(&input, ["what it is"])
        let flags = [0, HOST_PARAM_RUNTIME, HOST_PARAM_NAMED_ONLY, HOST_PARAM_BOUNDED]
        param.flags = (0..<input.below(3)).reduce(0) { value, _ in value | flags[input.below(flags.count)] }
            | (input.below(16) == 0 ? input.uint32() : 0)
        param.minimum = input.bool() ? input.int64() : Int64(input.below(100))
        param.maximum = input.bool() ? input.int64() : Int64(input.below(1000))
        block.storeBytes(of: param, as: host_param.self)
        return UnsafePointer(block.assumingMemoryBound(to: host_param.self))
    }

    /// A table whose function slots are present or NULL as the fuzzer says
    /// (every slot after struct_size is a pointer).
    private mutating func backend(_ input: inout FuzzInput) -> UnsafePointer<host_backend> {
        let block = allocate(host_backend.self)
        let slots = MemoryLayout<host_backend>.size / 8
        for slot in 1..<slots where input.below(8) != 0 { block.storeBytes(of: somewhere, toByteOffset: slot * 8, as: Int.self) }
        block.storeBytes(of: structSize(host_backend.self, &input), as: Int.self)
        return UnsafePointer(block.assumingMemoryBound(to: host_backend.self))
    }
}
