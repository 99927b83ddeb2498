import PluginABI

/// A step's typed arguments by parameter name, as its entry or its backend's
/// create_with and set_run_arguments received them. A name the step did not
/// declare is a programming error in the plugin itself, so the accessors
/// trap with the name rather than guess.
public struct Arguments: Sendable {
    let values: [String: Argument]

    init(_ values: [String: Argument]) { self.values = values }

    /// host_plugin.h promises every pointer of a host_argument of its type.
    init(_ list: UnsafePointer<host_arguments>?) {
        var values: [String: Argument] = [:]
        if let list = list?.pointee {
            for index in 0..<list.count {
                let item = list.items[index]
                guard let name = item.name else { continue }
                values[String(cString: name)] = switch item.type {
                case HOST_PARAM_STRING, HOST_PARAM_PATH: .string(item.value.string.map { String(cString: $0) } ?? "")
                case HOST_PARAM_INT: .int(item.value.integer)
                case HOST_PARAM_BOOL: .bool(item.value.boolean)
                case HOST_PARAM_DOUBLE: .double(item.value.number)
                case HOST_PARAM_KWARGS: .pairs(item.value.pairs?.pointee.pairs ?? [])
                default: .list(item.value.list?.pointee.strings ?? [])
                }
            }
        }
        self.values = values
    }

    public func argument(_ name: String) -> Argument {
        guard let value = values[name] else { fatalError("step has no parameter named \(name)") }
        return value
    }
    /// A string or path parameter (a path arrives absolute).
    public func string(_ name: String) -> String {
        if case let .string(v) = argument(name) { return v }
        fatalError("parameter \(name) is not a string")
    }
    public func int(_ name: String) -> Int64 {
        if case let .int(v) = argument(name) { return v }
        fatalError("parameter \(name) is not an int")
    }
    public func bool(_ name: String) -> Bool {
        if case let .bool(v) = argument(name) { return v }
        fatalError("parameter \(name) is not a bool")
    }
    public func double(_ name: String) -> Double {
        if case let .double(v) = argument(name) { return v }
        fatalError("parameter \(name) is not a double")
    }
    /// A list or rest parameter.
    public func list(_ name: String) -> [String] {
        if case let .list(v) = argument(name) { return v }
        fatalError("parameter \(name) is not a list")
    }
    public func pairs(_ name: String) -> [(String, String)] {
        if case let .pairs(v) = argument(name) { return v }
        fatalError("parameter \(name) is not a kwargs parameter")
    }
    /// Whether the step (or backend) was given this parameter at all: a
    /// backend's set_run_arguments receives its run-time ones only.
    public func has(_ name: String) -> Bool { values[name] != nil }
}

extension host_kv_list {
    /// host_plugin.h promises `count` non-NULL strings in each array.
    var pairs: [(String, String)] {
        (0..<count).map { (String(cString: keys[$0]!), String(cString: values[$0]!)) }
    }
}

extension host_string_list {
    /// host_plugin.h promises `count` non-NULL strings.
    var strings: [String] { (0..<count).map { String(cString: items[$0]!) } }
}
