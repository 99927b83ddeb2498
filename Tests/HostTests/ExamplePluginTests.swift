import Foundation
import Testing

/// The plugin examples README.md shows are the files built and run here.
@Suite struct ExamplePluginTests {
    static let readme = (try? String(contentsOf: Sandbox.repository.appendingPathComponent("README.md"), encoding: .utf8)) ?? ""

    @Test(arguments: ["Examples/c-plugin/hello_c.c", "Examples/swift-plugin/HelloSwiftPlugin.swift"])
    func readmeShowsTheExampleVerbatim(_ path: String) throws {
        let source = try String(contentsOf: Sandbox.repository.appendingPathComponent(path), encoding: .utf8)
        #expect(Self.readme.contains(source), "README.md must contain \(path) exactly")
    }

    @Test func cAndSwiftExamplesWorkInOnePipeline() throws {
        let sandbox = try Sandbox(plugins: Sandbox.standardPlugins + ["hello_swift"])
        try sandbox.compileC(Sandbox.repository.appendingPathComponent("Examples/c-plugin/hello_c.c"), as: "hello_c")
        let run = try sandbox.run(["backend.fixture", "+", "hello_c.greet", "--times=2", "+", "hello_swift.greet", "Ada",
                                   "+", "exec", "cat hello_c.txt hello_swift.txt"])
        #expect(run.status == 0, "\(run.err)")
        #expect(run.out == "Hello from C, world!\nHello from C, world!\nHello from Swift, Ada!\n")
        let refused = try sandbox.run(["backend.fixture", "+", "hello_c.greet", "--name=O'Brien"])
        #expect(refused.status == 1)
        #expect(refused.err.contains("hello_c.greet failed: --name must not contain a single quote"))
    }

    /// A third party's plugin built against the ABI 1.2 header, before this
    /// host's 1.3, loads and runs unchanged.
    @Test func aCPluginBuiltAgainstTheOlderHeaderStillRuns() throws {
        let sandbox = try Sandbox()
        try sandbox.compileC(Sandbox.repository.appendingPathComponent("Examples/c-plugin/hello_c.c"), as: "hello_c",
                             include: Sandbox.repository.appendingPathComponent("Tests/Fixtures/abi-1.2").path)
        let run = try sandbox.run(["backend.fixture", "+", "hello_c.greet", "--times=2", "+", "exec", "cat hello_c.txt"])
        #expect(run.status == 0, "\(run.err)")
        #expect(run.out == "Hello from C, world!\nHello from C, world!\n")
    }
}
