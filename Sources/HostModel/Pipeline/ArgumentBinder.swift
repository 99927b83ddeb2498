/// Converts a step's command-line words into typed values, one per declared
/// parameter in declaration order, naming the step and parameter in every
/// error. Grammar: positional words fill the declared parameters in order
/// (the rest parameter takes what is left); `--key=value`, `--flag`,
/// `--no-flag`; a repeated key makes a list; after `--` every word is
/// positional. `--transient` and `--cache=DURATION` are host's own: they
/// make the step transient, or lower how long its result is kept. A host
/// path is bound as given and then handed to the step to resolve
/// (CatalogStep.resolvePath): reading what it names is HostCore's.
package struct BoundArguments: Sendable {
    package let values: [ArgumentValue]
    package let forceTransient: Bool
    /// Seconds from --cache=DURATION; not part of the cache key.
    package var expiryCap: Int64? = nil

    package init(values: [ArgumentValue], forceTransient: Bool, expiryCap: Int64? = nil) {
        self.values = values
        self.forceTransient = forceTransient
        self.expiryCap = expiryCap
    }

    /// The cache key's view of the arguments: what is built, so run-time
    /// parameters are left out.
    package func canonical(_ step: some CatalogStep) -> String {
        zip(step.parameters, values).filter { !$0.0.isRuntime }.map { "\($0.name)=\($1.canonical)" }.joined(separator: "\n")
    }

    /// The run-time parameters' values as host_backend.set_run_arguments
    /// takes them: command-line text, a list once per item.
    package func runtime(_ step: some CatalogStep) -> [ArgumentValue.Pair] {
        zip(step.parameters, values).filter { $0.0.isRuntime }.flatMap { parameter, value in
            value.words.map { ArgumentValue.Pair(key: parameter.name, value: $0) }
        }
    }
}

package enum ArgumentBinder {
    package static func bind(_ words: [String], to step: some CatalogStep) throws -> BoundArguments {
        var given: [String: ArgumentValue] = [:]
        var positional: [String] = []
        var pairs: [ArgumentValue.Pair] = []
        var forceTransient = false
        var expiryCap: Int64?
        let kwargs = step.parameters.first { $0.type == .kwargs }
        var optionsEnded = false

        for word in words {
            guard !optionsEnded, word.hasPrefix("--"), word.count > 2 else {
                if word == "--" && !optionsEnded { optionsEnded = true } else { positional.append(word) }
                continue
            }
            let body = word.dropFirst(2)
            var key = String(body.prefix { $0 != "=" })
            var value: String? = body.contains("=") ? String(body.drop { $0 != "=" }.dropFirst()) : nil
            if key == "transient" && value == nil { forceTransient = true; continue }
            if key == "cache" && !step.parameters.contains(where: { $0.name == "cache" }) { // a 1.2 plugin's own --cache stays its own
                guard let value, let seconds = seconds(value) else {
                    throw HostError.usage("\(step.name): --cache\(value.map { "=" + $0 } ?? "") is not a duration; write it like --cache=90s, 30m, 12h or 7d")
                }
                expiryCap = seconds
                continue
            }
            var parameter = step.parameters.first { $0.name == key && $0.type.isPositional }
            if parameter == nil, value == nil, key.hasPrefix("no-"),
               let negated = step.parameters.first(where: { $0.name == String(key.dropFirst(3)) && $0.type == .bool }) {
                parameter = negated
                key = negated.name
                value = "false"
            }
            guard let parameter else {
                guard kwargs != nil else { throw unknownParameter(key, step) }
                pairs.append(.init(key: key, value: value ?? "true"))
                continue
            }
            if value == nil {
                guard parameter.type == .bool else {
                    throw HostError.usage("\(step.name): --\(key) needs a value; write --\(key)=VALUE (\(parameter.type))")
                }
                value = "true"
            }
            try add(value ?? "", to: parameter, step, &given)
        }

        for word in positional {
            if let next = step.parameters.first(where: { $0.takesPosition && given[$0.name] == nil }) {
                try add(word, to: next, step, &given)
            } else if let rest = step.parameters.first(where: { $0.type == .rest }) {
                if case let .list(items)? = given[rest.name] { given[rest.name] = .list(items + [word]) } else { given[rest.name] = .list([word]) }
            } else {
                let names = step.parameters.filter(\.takesPosition).map(\.name)
                throw HostError.usage("\(step.name): unexpected word \"\(word)\"; it takes \(names.isEmpty ? "no positional words" : "positional " + names.joined(separator: ", ")) (see `host help \(step.name)`)")
            }
        }
        if let kwargs { given[kwargs.name] = .pairs(pairs) }

        let values = try step.parameters.map { parameter -> ArgumentValue in
            if let value = given[parameter.name] { return value }
            if let value = parameter.defaultValue { return value }
            let how = parameter.type == .rest ? "one or more words after the step name"
                : "--\(parameter.name)=VALUE" + (parameter.isNamedOnly ? "" : " or a positional word")
            throw HostError.usage("\(step.name): missing required parameter \(parameter.name) (\(parameter.type)); give \(how)")
        }
        // Paths last, in declaration order, as before any work: a missing one is a usage error.
        let resolved = try zip(step.parameters, values).map { parameter, value in
            guard case let .path(text, _) = value, !text.isEmpty else { return value }
            return try step.resolvePath(text, for: parameter)
        }
        return BoundArguments(values: resolved, forceTransient: forceTransient, expiryCap: expiryCap)
    }

    /// "90s", "30m", "12h", "7d" (or plain seconds) -> seconds; nil when it is none of those.
    package static func seconds(_ text: String) -> Int64? {
        let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        let (number, unit) = text.last.flatMap { units[$0] }.map { (text.dropLast(), $0) } ?? (Substring(text), 1)
        guard let value = Int64(number), value >= 0 else { return nil }
        let (product, overflow) = value.multipliedReportingOverflow(by: unit)
        return overflow ? Int64.max : product
    }

    private static func add(_ text: String, to parameter: ParameterInfo, _ step: some CatalogStep,
                            _ given: inout [String: ArgumentValue]) throws {
        let value: ArgumentValue
        do {
            value = try ArgumentValue.parse(text, as: parameter.type)
        } catch let error as ArgumentValue.Unconvertible {
            throw HostError.usage("\(step.name): --\(parameter.name)=\(text): \(parameter.name) is \(parameter.type == .int ? "an" : "a") \(parameter.type); write \(error.expected)")
        }
        let outside: String? = switch value {
        case let .int(number): parameter.range.flatMap { $0.contains(number) ? nil : "\($0.lowerBound) and \($0.upperBound)" }
        case let .double(number): parameter.realRange.flatMap { $0.contains(number) ? nil : "\($0.lowerBound) and \($0.upperBound)" }
        default: nil
        }
        if let outside { throw HostError.usage("\(step.name): --\(parameter.name)=\(text): \(parameter.name) must be between \(outside)") }
        switch (given[parameter.name], value) {
        case (nil, _): given[parameter.name] = value
        case let (.list(old)?, .list(new)) where parameter.type == .list: given[parameter.name] = .list(old + new)
        default:
            throw HostError.usage("\(step.name): \(parameter.name) is given twice; it takes one \(parameter.type)")
        }
    }

    private static func unknownParameter(_ key: String, _ step: some CatalogStep) -> HostError {
        let names = step.parameters.filter(\.type.isPositional).map { "--\($0.name)" }
        return HostError.usage("\(step.name): unknown parameter --\(key); \(names.isEmpty ? "it takes no --options" : "its parameters are " + names.joined(separator: ", "))")
    }
}
