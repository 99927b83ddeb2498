import Foundation
import PluginABI
import Testing
@testable import HostCore

/// Every broken plugin is reported by file and reason, and never stops the
/// others from loading or running.
@Suite struct PluginLoadingTests {
    static let badSource = Sandbox.repository.appendingPathComponent("Tests/Fixtures/bad-plugins/bad_plugin.c")

    struct Case: CustomTestStringConvertible, Sendable {
        let label: String
        let defines: [String]
        let reason: String
        var testDescription: String { label }
    }

    static let compiledCases: [Case] = [
        Case(label: "no entry symbol", defines: ["-DNO_ENTRY"], reason: "exports no host_plugin_entry_v1 function"),
        Case(label: "ABI major mismatch", defines: ["-DABI_MAJOR=2"], reason: "built for plugin ABI 2.\(HOST_ABI_MINOR) but this host speaks ABI 1.x"),
        Case(label: "minor newer than host", defines: ["-DABI_MINOR=\(HOST_ABI_MINOR + 1)"], reason: "needs plugin ABI 1.\(HOST_ABI_MINOR + 1) but this host only knows 1.\(HOST_ABI_MINOR)"),
        Case(label: "struct_size below v1", defines: ["-DPLUGIN_SIZE=16"], reason: "struct_size 16, smaller than"),
        Case(label: "struct_size inside a field", defines: ["-DPLUGIN_SIZE=(sizeof(host_plugin)+4)"], reason: "which ends inside a field"),
        Case(label: "backend table below v1", defines: ["-DBACKEND_SIZE=16"], reason: "the backend table of bad.step has struct_size 16"),
        Case(label: "NULL step name", defines: ["-DSTEP_NAME=NULL"], reason: "step #0 has a NULL name"),
        Case(label: "empty step name", defines: ["-DSTEP_NAME=\"\""], reason: "step #0 has an empty name"),
        Case(label: "duplicate step in one plugin", defines: ["-DDUPLICATE_STEP"], reason: "declares step bad.step twice"),
        Case(label: "duplicate parameter", defines: ["-DDUPLICATE_PARAM"], reason: "declares parameter text twice"),
        Case(label: "default of the wrong type", defines: ["-DPARAM_TYPE=HOST_PARAM_INT", "-DPARAM_DEFAULT=\"abc\""],
             reason: "the default of int parameter text is \"abc\", which is not a valid int"),
        Case(label: "unknown required flag", defines: ["-DSTEP_FLAGS=0x80000000u"], reason: "sets required flag 0x80000000"),
    ]

    /// The broken plugin is listed with its file and reason, the good ones
    /// still load, and a pipeline on them still runs.
    func expectReported(_ sandbox: Sandbox, file: URL, reason: String) throws {
        let listing = try sandbox.run(["list-plugins", "--json"])
        #expect(listing.status == 0)
        let json = try JSONSerialization.jsonObject(with: Data(listing.out.utf8)) as? [String: Any]
        let failures = json?["failures"] as? [[String: String]] ?? []
        #expect(failures.count == 1)
        #expect(failures.first?["file"] == file.path)
        #expect(failures.first?["reason"]?.contains(reason) == true, "reason was: \(failures.first?["reason"] ?? "none")")
        let steps = (json?["steps"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        #expect(steps.contains("exec") && steps.contains("self_test.count") && steps.contains("backend.fixture"))

        let text = try sandbox.run(["list-plugins"])
        #expect(text.out.contains("Plugins that failed to load:\n  \(file.path): "))

        let pipeline = try sandbox.run(["backend.fixture", "+", "exec", "echo still working"])
        #expect(pipeline.status == 0)
        #expect(pipeline.out == "still working\n")
    }

    @Test(arguments: compiledCases)
    func brokenDescriptor(_ badCase: Case) throws {
        let sandbox = try Sandbox()
        let file = try sandbox.compileC(Self.badSource, as: "broken", defines: badCase.defines)
        try expectReported(sandbox, file: file, reason: badCase.reason)
    }

    /// A backend built against ABI 1.0 or 1.1 (its table ends at `check`)
    /// still loads, though the table grew in 1.2.
    /// A user's own plugins live in ~/.config/host/plugins, beside the
    /// search path; only `.so` files there are plugins.
    @Test func aUsersOwnPluginDirectory() throws {
        let sandbox = try Sandbox()
        let own = sandbox.root.appendingPathComponent("home/.config/host/plugins")
        try FileManager.default.createDirectory(at: own, withIntermediateDirectories: true)
        try FileManager.default.moveItem(at: sandbox.plugins.appendingPathComponent("exec.so"), to: own.appendingPathComponent("exec.so"))
        try "not a plugin".write(to: own.appendingPathComponent("README.txt"), atomically: true, encoding: .utf8)
        let listed = try sandbox.succeed(["list-plugins"])
        #expect(listed.out.contains("from \(own.path)/exec.so"), "\(listed.out)")
        #expect(!listed.out.contains("README.txt") && !listed.err.contains("README.txt"))
        #expect(try sandbox.succeed(["backend.fixture", "+", "exec", "echo own"]).out == "own\n")
    }

    @Test func aBackendTableOfV1SizeLoads() throws {
        let sandbox = try Sandbox()
        _ = try sandbox.compileC(Self.badSource, as: "old_backend", defines: ["-DBACKEND_SIZE=HOST_BACKEND_V1_SIZE", "-DABI_MINOR=0"])
        let listing = try sandbox.run(["list-plugins"])
        #expect(listing.status == 0)
        #expect(listing.out.contains("bad.step"), "\(listing.out)")
        #expect(!listing.out.contains("failed to load"), "\(listing.out)")
    }

    /// "cache" became host's own parameter name in ABI 1.3: a 1.2 plugin
    /// that declares it keeps it (and its --cache), a 1.3 one is refused.
    @Test func aParameterNamedCacheIsHostsFromABI13() throws {
        let old = try Sandbox()
        _ = try old.compileC(Self.badSource, as: "old_cache", defines: ["-DPARAM_NAME=\"cache\"", "-DABI_MINOR=2"],
                             include: Sandbox.repository.appendingPathComponent("Tests/Fixtures/abi-1.2").path)
        let kept = try old.run(["list-plugins"])
        #expect(kept.out.contains("bad.step") && !kept.out.contains("failed to load"), "\(kept.out)")
        let fresh = try Sandbox()
        let refused = try fresh.compileC(Self.badSource, as: "new_cache", defines: ["-DPARAM_NAME=\"cache\""])
        try expectReported(fresh, file: refused, reason: "parameter name \"cache\" is reserved for host's --cache")
    }

    @Test func notAnELFFile() throws {
        let sandbox = try Sandbox()
        let file = sandbox.plugins.appendingPathComponent("notes.so")
        try "this is a text file\n".write(to: file, atomically: true, encoding: .utf8)
        try expectReported(sandbox, file: file, reason: "is not an ELF shared object")
    }

    @Test func truncatedELF() throws {
        let sandbox = try Sandbox()
        let whole = try Data(contentsOf: sandbox.compileC(Self.badSource, as: "whole"))
        try FileManager.default.removeItem(at: sandbox.plugins.appendingPathComponent("whole.so"))
        let file = sandbox.plugins.appendingPathComponent("cut.so")
        try whole.prefix(whole.count / 2).write(to: file)
        try expectReported(sandbox, file: file, reason: "is a truncated ELF file")
    }

    @Test func sameStepInTwoPlugins() throws {
        let sandbox = try Sandbox()
        let first = try sandbox.compileC(Self.badSource, as: "first", defines: ["-DPLUGIN_NAME=\"first\""])
        let second = try sandbox.compileC(Self.badSource, as: "second", defines: ["-DPLUGIN_NAME=\"second\""])
        let listing = try sandbox.run(["list-plugins"])
        #expect(listing.out.contains("Steps offered twice (neither runs until one is removed):\n  bad.step: \(first.path), \(second.path)"))
        let run = try sandbox.run(["backend.fixture", "+", "bad.step"])
        #expect(run.status == 69)
        #expect(run.err.contains("step bad.step is offered by more than one plugin: \(first.path), \(second.path); remove all but one"))
        #expect(try sandbox.run(["backend.fixture", "+", "exec", "true"]).status == 0)
    }

    @Test func validCPluginRunsInAPipeline() throws {
        let sandbox = try Sandbox()
        try sandbox.compileC(Self.badSource, as: "good")
        let run = try sandbox.run(["backend.fixture", "+", "bad.step", "hello", "+", "exec", "echo ok"])
        #expect(run.status == 0, "\(run.err)")
        #expect(run.out == "ok\n")
    }

    @Test func elfCheckRefusesTextAndAcceptsThisBuildsPlugins() throws {
        let text = FileManager.default.temporaryDirectory.appendingPathComponent("text-\(UUID().uuidString).so")
        try "hello".write(to: text, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: text) }
        #expect(ELFCheck.problem(with: text.path)?.contains("not an ELF") == true)
        #expect(ELFCheck.problem(with: Sandbox.products.appendingPathComponent("libexec.so").path) == nil)
    }
}
