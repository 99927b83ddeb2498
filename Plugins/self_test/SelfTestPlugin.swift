import Foundation
import PluginKit
import PluginSupport

/// Steps that exercise host's semantics through the real ABI, on any
/// backend: caching, transient steps, apply, dependencies and expiry.
let plugin = Plugin(name: "self_test", version: "1.0.0", steps: [
    Step("self_test.make_greeting", summary: "Write a greeting into .greeting in the machine (cached)",
         parameters: [.string("greeting", default: "Hello!", help: "the text to write")]) { call in
        let greeting = call.string("greeting").replacingOccurrences(of: "'", with: "'\\''")
        try call.run("printf '%s\\n' '\(greeting)' > .greeting")
        return call.machine
    },

    Step("self_test.greeting", summary: "Apply make_greeting (cached on its own), then check .greeting (transient)",
         flags: .transient,
         parameters: [.string("greeting", default: "Hello!", help: "the text to expect")]) { call in
        let greeting = call.string("greeting")
        let greeted = try call.apply(["self_test.make_greeting", "--greeting=\(greeting)"])
        let found = try call.run("cat .greeting", on: greeted).trimmingCharacters(in: .newlines)
        guard found == greeting else { throw StepError("expected .greeting to hold \"\(greeting)\", found \"\(found)\"") }
        call.log("greeting ok: \(found)")
        return nil
    },

    Step("self_test.count", summary: "Record each real run in a host file, so tests can prove caching",
         parameters: [
            .string("record", default: "", help: "host file that gets one line per real run"),
            .double("sleep", default: 0, help: "seconds to work before finishing"),
            .int("expire", default: 0, help: "seconds the result stays valid (0: the default)"),
            .list("depend", help: "host files the result depends on"),
         ]) { call in
        let record = call.string("record")
        if !record.isEmpty {
            let line = Data("ran pid=\(getpid())\n".utf8)
            if let handle = FileHandle(forWritingAtPath: record) {
                handle.seekToEndOfFile()
                handle.write(line)
                handle.closeFile()
            } else {
                _ = FileManager.default.createFile(atPath: record, contents: line)
            }
        }
        for file in call.list("depend") { try call.dependOn(file: file) }
        if call.int("expire") > 0 { call.capExpiry(seconds: call.int("expire")) }
        try call.run("echo counted >> count.txt")
        if call.double("sleep") > 0 { usleep(UInt32(call.double("sleep") * 1_000_000)) }
        return call.machine
    },

    Step("self_test.note", summary: "Append TEXT to notes.txt in the machine (transient when last)",
         flags: .transientWhenLast,
         parameters: [.string("text", help: "the line to append")]) { call in
        let text = call.string("text").replacingOccurrences(of: "'", with: "'\\''")
        try call.run("printf '%s\\n' '\(text)' >> notes.txt")
        return call.machine
    },

    Step("self_test.roundtrip", summary: "Upload a host file or directory into the machine and download it back beside it as PATH.back (transient)",
         flags: .transient,
         parameters: [.string("path", help: "host file or directory")]) { call in
        let path = call.string("path")
        try call.upload(path, to: "/tmp/roundtrip")
        try call.download("/tmp/roundtrip", to: path + ".back")
        return nil
    },

    Step("self_test.connections", summary: "Print how many SSH connections commands and downloads used (transient)",
         flags: .transient) { call in
        // Each reports its session's SSH_CONNECTION (client address and
        // port), a download through cat's own environment; a command that
        // went through the guest agent has none.
        let scratch = try PrivateDirectory.make("host-self-test")
        defer { try? FileManager.default.removeItem(at: scratch) }
        func downloaded() throws -> String {
            try call.download("/proc/self/environ", to: scratch.appendingPathComponent("environ").path)
            let environment = try String(contentsOf: scratch.appendingPathComponent("environ"), encoding: .utf8)
            return environment.split(separator: "\0").first { $0.hasPrefix("SSH_CONNECTION=") }.map { String($0.dropFirst("SSH_CONNECTION=".count)) } ?? ""
        }
        let uses = [try call.run("echo $SSH_CONNECTION"), try downloaded(), try downloaded(), try call.run("echo $SSH_CONNECTION")]
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
        print("\(Set(uses).count) connection(s) for \(uses.count) use(s) of SSH: \(Set(uses).sorted().joined(separator: ", "))")
        return nil
    },

    Step("self_test.console", summary: "Type a line on the machine's console and wait for a pattern (transient)",
         flags: .transient,
         parameters: [
            .string("send", help: "the line to type"),
            .string("expect", help: "what must appear"),
            .bool("regex", help: "EXPECT is a POSIX extended regular expression"),
            .int("timeout", default: 10_000, help: "milliseconds to wait"),
         ]) { call in
        try call.consoleSend(call.string("send") + "\n")
        try call.consoleExpect(call.string("expect"), regex: call.bool("regex"), timeoutMs: call.int("timeout"))
        call.log("console showed \(call.string("expect"))")
        return nil
    },

    Step("self_test.args", summary: "Print the typed arguments host passed through the C ABI (transient)",
         flags: .transient,
         parameters: [
            .string("name", help: "a string"),
            .int("count", default: 1, help: "an int"),
            .bool("flag", help: "a bool"),
            .double("ratio", default: 0.5, help: "a double"),
            .list("tag", help: "a list"),
            .rest("words", help: "the remaining positional words"),
            .kwargs("extra", help: "undeclared --key=value pairs"),
         ]) { call in
        let text = """
            name=\(call.string("name")) count=\(call.int("count")) flag=\(call.bool("flag")) ratio=\(call.double("ratio"))
            tag=\(call.list("tag")) words=\(call.list("words")) extra=\(call.pairs("extra").map { "\($0)=\($1)" })

            """
        StandardStream.output.write(text)
        return nil
    },
])

@_cdecl("host_plugin_entry_v1")
public func hostPluginEntry() -> UnsafeRawPointer { plugin.descriptor }
