import Foundation
import Testing

/// A C backend that leaves NULL every host_backend function the header
/// lets it leave NULL (Tests/Fixtures/minimal-backend), run through the real
/// host binary: host must build, cache, reuse, probe and clean up its
/// machines without ever calling a NULL function.
@Suite struct MinimalBackendTests {
    static let source = Sandbox.repository.appendingPathComponent("Tests/Fixtures/minimal-backend/minimal_backend.c")

    /// As an ABI 1.3 table (create_with, create NULL) and as a 1.0 one
    /// (create, a table that ends at check).
    @Test(arguments: [[], ["-DMINIMAL_V1"]])
    func aBackendWithEveryOptionalFunctionNULLRunsAndReusesItsCache(_ defines: [String]) throws {
        let sandbox = try Sandbox()
        try sandbox.compileC(Self.source, as: "minimal_backend", defines: defines, strict: true)

        let hi = try sandbox.run(["--json", "backend.minimal", "+", "exec", "echo hi"])
        #expect(hi.status == 0 && hi.out == "hi\n", "\(hi.err)")
        #expect(hi.built("backend.minimal"), "\(hi.err)")

        let pipeline = ["backend.minimal", "+", "exec", "echo kept > kept.txt", "+", "exec", "cat kept.txt; echo to-stderr >&2"]
        let first = try sandbox.run(["--json"] + pipeline)
        #expect(first.status == 0 && first.out == "kept\n" && first.err.contains("to-stderr\n"), "\(first.err)")
        #expect(first.built("exec"), "\(first.err)")
        // check is NULL: the saved machines are reused as they are.
        let again = try sandbox.run(["--json"] + pipeline)
        #expect(again.status == 0 && again.out == "kept\n", "\(again.err)")
        #expect(again.reused("backend.minimal") && again.reused("exec") && !again.facts.contains { $0.event == .built },
                "\(again.err)")

        #expect(try sandbox.run(["backend.minimal", "+", "exec", "exit 3"]).status == 3)

        // extension is NULL: services->extension answers NULL.
        let probe = try sandbox.run(["backend.minimal", "+", "backend.minimal.probe"])
        #expect(probe.status == 0 && probe.out == "host.vm/1 not offered\n", "\(probe.err)")

        // A file into the machine and back, through services->upload and ->download.
        let file = sandbox.file("in.txt")
        try "hello\n".write(to: file, atomically: true, encoding: .utf8)
        let files = try sandbox.run(["backend.minimal", "+", "exec", "mkdir tmp", "+", "self_test.roundtrip", file.path])
        #expect(files.status == 0, "\(files.err)")
        #expect(try String(contentsOf: file.appendingPathExtension("back"), encoding: .utf8) == "hello\n")

        // forget is NULL: removing the machines lets nothing go elsewhere, and works.
        let cleanup = try sandbox.run(["cleanup", "machines", "all"])
        #expect(cleanup.status == 0, "\(cleanup.err)")
        let rebuilt = try sandbox.run(["--json"] + pipeline)
        #expect(rebuilt.status == 0 && rebuilt.out == "kept\n" && rebuilt.built("exec"), "\(rebuilt.err)")
    }

    /// A step that needs a capability the backend cannot offer (its
    /// extension function is NULL) is refused before anything runs.
    @Test func aStepNeedingACapabilityIsRefusedOnIt() throws {
        let sandbox = try Sandbox()
        try sandbox.compileC(Self.source, as: "minimal_backend", strict: true)
        let run = try sandbox.run(["backend.minimal", "+", "backend.minimal.vm"])
        #expect(run.status == 64 && run.err.contains("host.vm/1"), "\(run.err)")
        #expect(try sandbox.cacheSnapshot().isEmpty)
    }

    /// upload is not one of the functions that may be NULL: the plugin is
    /// refused when it is scanned, naming the function, and its step says so.
    @Test func aBackendWithoutUploadIsRefusedNamingIt() throws {
        let sandbox = try Sandbox()
        let plugin = try sandbox.compileC(Self.source, as: "minimal_backend", defines: ["-DMINIMAL_NO_UPLOAD"], strict: true)
        let listed = try sandbox.run(["list-plugins"])
        #expect(listed.out.contains("\(plugin.path): the backend table of backend.minimal has no upload function"), "\(listed.out)")
        let run = try sandbox.run(["backend.minimal", "+", "exec", "echo hi"])
        #expect(run.status != 0 && run.err.contains(plugin.path), "\(run.err)")
    }

    /// What a backend offers is in the plugin index: planning a pipeline,
    /// here one refused because the backend lacks what a step needs (the
    /// planner asks every backend, to name those that have it), loads no
    /// plugin. Only the scan and the run do.
    @Test func planningLoadsNoPlugin() throws {
        let sandbox = try Sandbox()
        try sandbox.compileC(Self.source, as: "minimal_backend", defines: ["-DMINIMAL_MARK_LOADS"], strict: true)
        let marker = sandbox.file("loaded")
        let environment = ["HOST_TEST_LOAD_MARKER": marker.path]
        #expect(try sandbox.run(["list-plugins"], extraEnvironment: environment).status == 0)
        #expect(FileManager.default.fileExists(atPath: marker.path), "the scan loads the plugin, in its child")
        try FileManager.default.removeItem(at: marker)

        let refused = try sandbox.run(["backend.minimal", "+", "backend.minimal.vm"], extraEnvironment: environment)
        #expect(refused.status == 64, "\(refused.err)")
        #expect(!FileManager.default.fileExists(atPath: marker.path), "planning loaded the plugin")

        #expect(try sandbox.run(["backend.minimal", "+", "exec", "true"], extraEnvironment: environment).status == 0)
        #expect(FileManager.default.fileExists(atPath: marker.path), "a run loads it")
    }
}
