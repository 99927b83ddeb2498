/// Splits `STEP [ARGS] + STEP [ARGS] ...` into one word list per step.
/// A lone `+` separates steps; `++` stands for a literal `+` word.
public enum PipelineParser {
    public struct Invocation: Equatable, Sendable {
        public let name: String
        public let words: [String]
    }

    public static func split(_ words: [String]) throws -> [Invocation] {
        var invocations: [Invocation] = []
        var current: [String] = []
        func finish() throws {
            guard let name = current.first else {
                throw HostError.usage("empty step in the pipeline: every `+` must have a step on both sides, as in `host backend.qemu + exec uname`")
            }
            guard !name.hasPrefix("-") else {
                throw HostError.usage("\(name) is not a step name; a step's options come after its name, as in `exec --transient CMD`")
            }
            invocations.append(Invocation(name: name, words: Array(current.dropFirst())))
            current = []
        }
        for word in words {
            if word == "+" { try finish() } else { current.append(word == "++" ? "+" : word) }
        }
        try finish()
        return invocations
    }
}
