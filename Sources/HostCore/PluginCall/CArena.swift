import HostModel
import PluginABI

/// Owns C values handed to a plugin (strings, arrays, structs) until the
/// arena goes: libffi and the plugin take pointers and copy nothing.
final class CArena {
    private var blocks: [UnsafeMutableRawPointer] = []
    deinit { blocks.forEach { $0.deallocate() } }

    func store<T>(_ value: T) -> UnsafeMutableRawPointer {
        let block = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<T>.stride, alignment: MemoryLayout<T>.alignment)
        block.storeBytes(of: value, as: T.self)
        blocks.append(block)
        return block
    }

    func string(_ text: String) -> UnsafePointer<CChar> {
        let utf8 = Array(text.utf8CString)
        let block = UnsafeMutableRawPointer.allocate(byteCount: utf8.count, alignment: 1)
        utf8.withUnsafeBytes { block.copyMemory(from: $0.baseAddress!, byteCount: utf8.count) } // utf8CString is never empty
        blocks.append(block)
        return UnsafePointer(block.assumingMemoryBound(to: CChar.self))
    }

    func strings(_ items: [String]) -> UnsafePointer<UnsafePointer<CChar>?> {
        let array = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: items.count + 1)
        for (index, item) in items.enumerated() { array[index] = string(item) }
        array[items.count] = nil
        blocks.append(UnsafeMutableRawPointer(array))
        return UnsafePointer(array)
    }

    /// Typed arguments as backend functions take them (host_arguments).
    func arguments(_ items: [(ParameterInfo, ArgumentValue)]) -> UnsafePointer<host_arguments> {
        let array = UnsafeMutablePointer<host_argument>.allocate(capacity: max(items.count, 1))
        blocks.append(UnsafeMutableRawPointer(array))
        for (index, (parameter, value)) in items.enumerated() {
            var argument = host_argument()
            argument.name = string(parameter.name)
            argument.type = parameter.type.abi
            switch value {
            case let .string(text), let .path(text, _): argument.value.string = string(text)
            case let .int(number): argument.value.integer = number
            case let .bool(flag): argument.value.boolean = flag
            case let .double(number): argument.value.number = number
            case let .list(words): argument.value.list = stringList(words)
            case let .pairs(pairs): argument.value.pairs = kvList(pairs)
            }
            (array + index).initialize(to: argument)
        }
        return UnsafePointer(store(host_arguments(count: items.count, items: UnsafePointer(array))).assumingMemoryBound(to: host_arguments.self))
    }

    func stringList(_ items: [String]) -> UnsafePointer<host_string_list> {
        UnsafePointer(store(host_string_list(count: items.count, items: strings(items))).assumingMemoryBound(to: host_string_list.self))
    }

    func kvList(_ pairs: [ArgumentValue.Pair]) -> UnsafePointer<host_kv_list> {
        UnsafePointer(store(host_kv_list(count: pairs.count, keys: strings(pairs.map(\.key)), values: strings(pairs.map(\.value))))
            .assumingMemoryBound(to: host_kv_list.self))
    }
}
