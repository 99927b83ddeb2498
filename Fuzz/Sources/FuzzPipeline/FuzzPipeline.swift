import FuzzInput
import Foundation
@testable import HostCore
@testable import HostModel

/// The command line: the pipeline grammar, then each step's words bound to
/// its declared parameters. Whatever the words, host either binds them or
/// says why with a usage error (exit 64); it never traps, and what it
/// binds keeps every declared rule.
func fuzzPipeline(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    var input = FuzzInput(data, count)
    let vocabulary = ["+", "++", "--", "--transient", "--cache=", "--cache=90s", "--no-snapshot", "--snapshot",
                      "--memory=", "--memory=512", "--forward=8080:80", "--disk=8G", "--cores=2", "--ratio=0.5",
                      "--module=", "--name=x", "exec", "backend.test", "ansible", "legacy", "1", "-1", "true", "7d"]
    var words: [String] = []
    while !input.isEmpty, words.count < 64 { words.append(input.string(oneOf: vocabulary)) }
    do {
        for invocation in try PipelineParser.split(words) {
            precondition(!invocation.name.hasPrefix("-"), "an option was taken for a step name")
            for step in steps { check(invocation.words, step) }
        }
    } catch let error as HostError {
        precondition(error.kind == .usage, "the grammar failed with \(error)")
    } catch {
        preconditionFailure("the grammar threw \(error)")
    }
    return 0
}

private func check(_ words: [String], _ step: StepInfo) {
    do {
        let bound = try ArgumentBinder.bind(words, to: step)
        precondition(bound.values.count == step.parameters.count, "\(step.name): a value per parameter")
        for (parameter, value) in zip(step.parameters, bound.values) {
            if case let .int(number) = value, let range = parameter.range {
                precondition(range.contains(number), "\(step.name): \(parameter.name)=\(number) outside its range")
            }
            if case let .double(number) = value, let range = parameter.realRange {
                precondition(range.contains(number), "\(step.name): \(parameter.name)=\(number) outside its range")
            }
        }
        // The key's view of the arguments is a function of the words.
        let again = try ArgumentBinder.bind(words, to: step)
        precondition(again.canonical(step) == bound.canonical(step), "\(step.name): canonical form differs between binds")
        _ = bound.runtime(step)
    } catch let error as HostError {
        precondition(error.kind == .usage && !error.message.isEmpty, "\(step.name): binding failed with \(error)")
    } catch {
        preconditionFailure("\(step.name): binding threw \(error)")
    }
}

/// Steps with every parameter type and flag, as a scan would record them.
private let steps: [StepInfo] = {
    let records = """
    [{"name": "exec", "summary": "", "flags": 0, "expiry": 0, "needs": [], "offers": [],
      "parameters": [{"name": "command", "type": "rest", "help": "", "isRuntime": false, "isNamedOnly": false}]},
     {"name": "backend.test", "summary": "", "flags": 8, "expiry": 0, "needs": [], "offers": [],
      "parameters": [
        {"name": "memory", "type": "int", "defaultText": "512", "help": "", "isRuntime": false, "isNamedOnly": false, "range": [64, 65536]},
        {"name": "cores", "type": "int", "defaultText": "1", "help": "", "isRuntime": false, "isNamedOnly": true},
        {"name": "snapshot", "type": "bool", "defaultText": "false", "help": "", "isRuntime": false, "isNamedOnly": false},
        {"name": "ratio", "type": "double", "defaultText": "1.5", "help": "", "isRuntime": false, "isNamedOnly": false, "realRange": [0, 10]},
        {"name": "forward", "type": "list", "defaultText": "", "help": "", "isRuntime": true, "isNamedOnly": true},
        {"name": "disk", "type": "string", "defaultText": "8G", "help": "", "isRuntime": false, "isNamedOnly": false}]},
     {"name": "ansible", "summary": "", "flags": 0, "expiry": 0, "needs": [], "offers": [],
      "parameters": [{"name": "module", "type": "string", "help": "", "isRuntime": false, "isNamedOnly": false},
                     {"name": "args", "type": "kwargs", "help": "", "isRuntime": false, "isNamedOnly": false}]},
     {"name": "legacy", "summary": "", "flags": 0, "expiry": 0, "needs": [], "offers": [],
      "parameters": [{"name": "cache", "type": "string", "defaultText": "", "help": "", "isRuntime": false, "isNamedOnly": false}]}]
    """
    // The records above are this file's own constant, valid by construction.
    let decoded = try! JSONDecoder().decode([StepRecord].self, from: Data(records.utf8))
    // "/" always exists, so the identity does too.
    let plugin = PluginInfo(name: "fuzz", version: "1", path: "/", digest: "", identity: FileIdentity("/")!)
    return decoded.map { StepInfo(record: $0, plugin: plugin) }
}()
