import Foundation
import PluginKit

/// TEST FIXTURE, not a product: a backend whose machines are plain
/// directories (`DIR/root`), so the engine's caching, transient and apply
/// semantics can be tested end to end through the real ABI without a VM.
/// Commands run with /bin/sh on the host, in the machine's root directory.
final class DirectoryMachine: BackendMachine {
    let root: URL
    /// What the console printed and the reader has not taken yet.
    private var console: [UInt8] = []
    private var typed: [UInt8] = []
    /// The run-time --run-note of this run, written to /run-note at every start.
    private var runNote = ""
    /// Cloned from a saved machine: with HOST_FIXTURE_FAIL_RESTORE=1 its start
    /// fails, as a restore does when something outside the files is wrong.
    var isRestored = false

    init(directory: String) {
        root = URL(fileURLWithPath: directory).appendingPathComponent("root")
    }

    func up(_ call: BackendCall) throws {
        if isRestored && ProcessInfo.processInfo.environment["HOST_FIXTURE_FAIL_RESTORE"] == "1" {
            throw StepError("TEST FIXTURE: this restore fails on purpose (HOST_FIXTURE_FAIL_RESTORE=1)")
        }
        guard FileManager.default.fileExists(atPath: root.path) else {
            throw StepError("fixture machine \(root.path) is missing its root directory")
        }
        try (runNote + "\n").write(to: root.appendingPathComponent("run-note"), atomically: true, encoding: .utf8)
        console += Array("fixture$ ".utf8)
    }

    func setRunArguments(_ call: BackendCall, _ arguments: Arguments) throws {
        runNote = arguments.string("run-note")
        if runNote == "refuse" { throw StepError.usage("--run-note=refuse is refused, as a test of usage errors") }
    }

    func down(_ call: BackendCall) throws {} // the files are the whole state
    func drop(_ call: BackendCall) {}

    func exec(_ call: BackendCall, _ command: String, output: (Int32, UnsafeRawBufferPointer) -> Void) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.currentDirectoryURL = root
        // Output goes to files, not pipes: nothing to drain, nothing to deadlock.
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("fixture-\(UUID().uuidString)")
        let err = out.appendingPathExtension("err")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: out); try? FileManager.default.removeItem(at: err) }
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        for (stream, file) in [(Int32(1), out), (2, err)] {
            let data = try Data(contentsOf: file)
            data.withUnsafeBytes { if !$0.isEmpty { output(stream, $0) } }
        }
        return process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
    }

    private func inside(_ path: String) -> URL {
        root.appendingPathComponent(path.hasPrefix("/") ? String(path.dropFirst()) : path)
    }

    func upload(_ call: BackendCall, from localPath: String, to machinePath: String) throws {
        let target = inside(machinePath)
        try? FileManager.default.removeItem(at: target)
        try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: URL(fileURLWithPath: localPath), to: target)
    }

    func download(_ call: BackendCall, from machinePath: String, to localPath: String) throws {
        try? FileManager.default.removeItem(atPath: localPath)
        try FileManager.default.copyItem(at: inside(machinePath), to: URL(fileURLWithPath: localPath))
    }

    /// A line-at-a-time console: each typed line runs as a command and its
    /// output, then a new prompt, appear on the console.
    func consoleSend(_ call: BackendCall, _ bytes: UnsafeRawBufferPointer) throws {
        typed += bytes
        while let newline = typed.firstIndex(of: 10) {
            let line = String(decoding: typed[..<newline], as: UTF8.self)
            typed.removeSubrange(...newline)
            console += Array((line + "\n").utf8)
            _ = try exec(call, line) { _, chunk in console += chunk }
            console += Array("fixture$ ".utf8)
        }
    }

    func consoleRead(_ call: BackendCall, into buffer: UnsafeMutableRawBufferPointer, timeoutMs: Int64) throws -> Int {
        let count = min(buffer.count, console.count)
        guard count > 0 else {
            usleep(UInt32(min(timeoutMs, 100)) * 1000) // nothing will arrive: only typing makes output
            return 0
        }
        buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: console.withUnsafeBytes { $0 }[..<count]))
        console.removeFirst(count)
        return count
    }

    func describe() -> String? { "directory machine at \(root.path)" }
}

struct DirectoryBackend: Backend {
    func create(_ call: BackendCall, directory: String, arguments: Arguments) throws -> BackendMachine {
        let machine = DirectoryMachine(directory: directory)
        try FileManager.default.createDirectory(at: machine.root, withIntermediateDirectories: true)
        try (arguments.string("label") + "\n").write(to: machine.root.appendingPathComponent("label"), atomically: true, encoding: .utf8)
        return machine
    }

    func clone(_ call: BackendCall, from source: String, to destination: String) throws -> BackendMachine {
        let machine = DirectoryMachine(directory: destination)
        try FileManager.default.copyItem(at: DirectoryMachine(directory: source).root, to: machine.root)
        machine.isRestored = true
        return machine
    }
}

let parameters: [Parameter] = [
    .string("label", default: "fixture", help: "written to /label in the new machine"),
    .string("run-note", default: "", flags: .runtime, help: "written to /run-note at every start (run-time only)"),
]

let plugin = Plugin(name: "backend.fixture", version: "1.0.0", steps: [
    Step("backend.fixture", summary: "TEST FIXTURE: machines that are plain directories (no VM)",
         flags: .backend, parameters: parameters) { call in call.machine },
    Step("backend.fixture.unsaved", summary: "TEST FIXTURE: the same machines, as a backend that cannot save them",
         flags: [.backend, .savesNothing], parameters: parameters) { call in call.machine },
], backend: DirectoryBackend())

@_cdecl("host_plugin_entry_v1")
public func hostPluginEntry() -> UnsafeRawPointer { plugin.descriptor }
