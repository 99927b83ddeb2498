/// Splits `STEP [ARGS] + STEP [ARGS] ...` into one word list per step.
/// A lone `+` separates steps; `++` stands for a literal `+` word.
package enum PipelineParser {
    package struct Invocation: Equatable, Sendable {
        package let name: String
        package let words: [String]

        package init(name: String, words: [String]) {
            self.name = name
            self.words = words
        }
    }

    package static func split(_ words: [String]) throws -> [Invocation] {
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
