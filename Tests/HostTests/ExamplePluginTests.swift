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
        try sandbox.compileC(Sandbox.repository.appendingPathComponent("Examples/c-plugin/hello_c.c"), as: "hello_c", strict: true)
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

    /// `host plugin-template LANGUAGE acme` in an installed layout
    /// (PREFIX/bin/host, PREFIX/include/host, PREFIX/share/host/plugin-kit, as
    /// scripts/setup makes it), then the build command it prints, as it is:
    /// the plugin builds warning-free, `list-plugins` shows it, a pipeline runs it.
    @Test(arguments: ["c", "swift"]) func aPluginTemplateBuildsLoadsAndRuns(_ language: String) throws {
        let sandbox = try Sandbox()
        let prefix = sandbox.file("prefix"), work = sandbox.file("work")
        let headers = prefix.appendingPathComponent("include/host"), kit = prefix.appendingPathComponent("share/host/plugin-kit")
        for directory in [prefix.appendingPathComponent("bin"), headers, kit.appendingPathComponent("Sources"), work] {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        }
        let host = prefix.appendingPathComponent("bin/host")
        try FileManager.default.copyItem(at: Sandbox.products.appendingPathComponent("host"), to: host)
        let sources = Sandbox.repository.appendingPathComponent("Sources")
        for name in try FileManager.default.contentsOfDirectory(atPath: sources.appendingPathComponent("PluginABI/include").path) {
            try FileManager.default.copyItem(at: sources.appendingPathComponent("PluginABI/include/\(name)"), to: headers.appendingPathComponent(name))
        }
        try FileManager.default.copyItem(at: Sandbox.repository.appendingPathComponent("scripts/plugin-kit/Package.swift"),
                                         to: kit.appendingPathComponent("Package.swift"))
        for target in ["PluginABI", "CFFI", "CChildProcess", "ChildProcess", "Trace", "PluginKit"] {
            try FileManager.default.copyItem(at: sources.appendingPathComponent(target), to: kit.appendingPathComponent("Sources/\(target)"))
        }
        let shell = "cd \(work.path) && \(host.path) plugin-template \(language) acme"
        let template = try Sandbox.execute("/bin/sh", ["-c", shell], environment: sandbox.environment)
        #expect(template.status == 0, "\(template.err)")
        let lines = template.out.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        let build = try #require(lines.first { $0.hasPrefix("cc ") || $0.hasPrefix("swift ") || $0.hasPrefix("mkdir ") }, "\(template.out)")
        #expect(!build.contains(Sandbox.repository.path), "\(build)")
        if language == "c" { #expect(build.contains("-Wall -Wextra -Werror") && build.contains("-I \(headers.path)")) }
        let built = try Sandbox.execute("/bin/sh", ["-c", "cd \(work.path) && \(build)"], environment: sandbox.environment)
        #expect(built.status == 0, "\(built.out) \(built.err)")
        let listed = try sandbox.succeed(["list-plugins"])
        #expect(listed.out.contains("acme.hello  [step]  cacheable"), "\(listed.out)")
        let run = try sandbox.run(["backend.fixture", "+", "acme.hello", "you", "--times=2", "+", "exec", "cat hello.txt"])
        #expect(run.status == 0 && run.out == "Hello, you!\nHello, you!\n", "\(run.err)")
        let again = try Sandbox.execute("/bin/sh", ["-c", shell], environment: sandbox.environment)
        #expect(again.status == 64 && again.err.contains("exists already"), "\(again.err)")
        let badName = try Sandbox.execute("/bin/sh", ["-c", "cd \(work.path) && \(host.path) plugin-template \(language) Acme"],
                                          environment: sandbox.environment)
        #expect(badName.status == 64 && badName.err.contains("\"Acme\" is not a plugin name: lower-case letters, digits and _"), "\(badName.err)")
    }

    /// `host --help` and `host plugin-template` name the plugin guide where
    /// scripts/setup installs it beside host (PREFIX/share/doc/host), the
    /// source tree's for a host run from its build directory, and say where
    /// it is in host's source when neither is there.
    @Test func theGuideIsNamedFromWhereHostIsInstalled() throws {
        let sandbox = try Sandbox()
        let built = try sandbox.succeed(["--help"])
        let source = Sandbox.repository.appendingPathComponent("docs/plugins.md").resolvingSymlinksInPath().path
        #expect(built.out.contains("Writing plugins: \(source)"), "\(built.out)")

        let prefix = sandbox.file("prefix").resolvingSymlinksInPath()
        let host = prefix.appendingPathComponent("bin/host")
        try FileManager.default.createDirectory(at: host.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: Sandbox.products.appendingPathComponent("host"), to: host)
        let bare = try Sandbox.execute(host.path, ["--help"], environment: sandbox.environment)
        #expect(bare.out.contains("Writing plugins: docs/plugins.md in host's source"), "\(bare.out)")

        let doc = prefix.appendingPathComponent("share/doc/host")
        try FileManager.default.createDirectory(at: doc, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: Sandbox.repository.appendingPathComponent("docs/plugins.md"), to: doc.appendingPathComponent("plugins.md"))
        let installed = try Sandbox.execute(host.path, ["--help"], environment: sandbox.environment)
        #expect(installed.out.contains("Writing plugins: \(doc.path)/plugins.md"), "\(installed.out)")
        let manual = try Sandbox.execute(host.path, ["__manual"], environment: sandbox.environment)
        #expect(manual.out.contains(".B \(doc.path.replacingOccurrences(of: "-", with: "\\-"))/plugins.md"), "\(manual.out)")

        try FileManager.default.createDirectory(at: prefix.appendingPathComponent("include/host"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: Sandbox.repository.appendingPathComponent("Sources/PluginABI/include/host_plugin.h"),
                                         to: prefix.appendingPathComponent("include/host/host_plugin.h"))
        let work = sandbox.file("work")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let template = try Sandbox.execute("/bin/sh", ["-c", "cd \(work.path) && \(host.path) plugin-template c acme"], environment: sandbox.environment)
        #expect(template.status == 0 && template.out.contains("the guide to the rest of the ABI: \(doc.path)/plugins.md\n"), "\(template.out) \(template.err)")
        #expect(template.out.contains("examples: \(doc.path)/examples\n"), "\(template.out)")
    }

    /// The backend written in C against the header alone: machines made,
    /// saved, cloned and checked through the vtable.
    @Test func theCBackendExampleRunsAPipeline() throws {
        let sandbox = try Sandbox(plugins: Sandbox.standardPlugins + ["console", "transfer"])
        try sandbox.compileC(Sandbox.repository.appendingPathComponent("Examples/c-backend/dir_backend.c"), as: "dir_backend", strict: true)
        let pipeline = ["dir_backend", "+", "exec", "echo kept > kept.txt; echo to-stderr >&2", "+", "exec", "cat kept.txt"]
        let first = try sandbox.run(pipeline)
        #expect(first.status == 0 && first.out == "kept\n" && first.err.contains("to-stderr\n"), "\(first.err)")
        let again = try sandbox.run(["--json"] + pipeline)
        #expect(again.status == 0 && again.out == "kept\n" && again.reused("exec"), "\(again.err)")
        let failing = try sandbox.run(["dir_backend", "+", "exec", "exit 3"])
        #expect(failing.status == 3)
        let console = try sandbox.run(["dir_backend", "+", "console"])
        #expect(console.status != 0 && console.err.contains("dir_backend machines have no console"), "\(console.err)")

        // The guide's "Files": a directory's contents merge into a target that exists, never app/app.
        let app = sandbox.file("app")
        try FileManager.default.createDirectory(at: app, withIntermediateDirectories: true)
        try "new\n".write(to: app.appendingPathComponent("a"), atomically: true, encoding: .utf8)
        try "b\n".write(to: app.appendingPathComponent("b"), atomically: true, encoding: .utf8)
        let merged = try sandbox.run(["dir_backend", "+", "exec", "mkdir app; echo old > app/a; echo kept > app/old",
                                      "+", "upload", app.path, "/app", "+", "exec", "ls app; cat app/a"])
        #expect(merged.status == 0 && merged.out == "a\nb\nold\nnew\n", "\(merged.err)")
    }

    /// Between them, tour_c.c and TourSwiftPlugin.swift use every parameter
    /// type and every host service.
    @Test func theTourUsesEveryParameterTypeAndService() throws {
        let sandbox = try Sandbox(plugins: Sandbox.standardPlugins + ["tour_swift", "console"])
        try sandbox.compileC(Sandbox.repository.appendingPathComponent("Examples/c-plugin/tour_c.c"), as: "tour_c", strict: true)
        let params = try sandbox.run(["backend.fixture", "+", "tour_c.params", "Ada", "3", "more", "words", "--ratio=0.25", "--loud",
                                      "--tag=a", "--tag=b", "--color=red", "+", "exec", "cat params.txt"])
        let line = "name=Ada count=3 ratio=0.25 loud=yes tags=a,b words=more,words extra=color:red\n"
        #expect(params.status == 0 && params.out == line + line, "\(params.err)")
        #expect(try sandbox.run(["backend.fixture", "+", "tour_c.params", "Ada", "12"]).status == 64) // out of its range
        #expect(try sandbox.run(["backend.fixture", "+", "tour_c.params", "Ada", "--ratio=1.5"]).status == 64) // a double's too

        let file = sandbox.file("in.txt")
        try "hello\n".write(to: file, atomically: true, encoding: .utf8)
        let files = try sandbox.run(["backend.fixture", "+", "tour_c.files", file.path, "+", "exec", "cat uploaded.txt"])
        #expect(files.status == 0 && files.out == "6\nhello\n", "\(files.err)")
        #expect(files.err.contains("identity ready; backend object present; host.vm/1 not offered"), "\(files.err)")
        #expect(try String(contentsOf: file.appendingPathExtension("back"), encoding: .utf8) == "hello\n")

        let server = try LocalWebServer(serving: "fetched\n")
        let fetched = try sandbox.run(["backend.fixture", "+", "tour_c.fetch", "http://127.0.0.1:\(server.port)/file",
                                       "+", "exec", "cat fetched.txt"])
        #expect(fetched.status == 0 && fetched.out == "fetched\n", "\(fetched.err)")

        let console = try sandbox.run(["backend.fixture", "+", "tour_c.console"])
        #expect(console.status == 0 && console.err.contains("tour_c.console: the console answered"), "\(console.err)")
        #expect(try sandbox.run(["backend.fixture", "+", "tour_c.both", "+", "tour_c.check", "params.txt"]).status == 0)
        #expect(try sandbox.run(["backend.fixture", "+", "tour_c.check", "nothing-here"]).status == 1)

        let two = try sandbox.run(["backend.fixture", "+", "tour_swift.stages", "--count=2", "+", "exec", "cat stages.txt"])
        #expect(two.status == 0 && two.out == "stage 1\nstage 2\n", "\(two.err)")
        let four = try sandbox.run(["backend.fixture", "+", "tour_swift.stages", "--count=4", "+", "exec", "cat stages.txt"])
        #expect(four.status == 0 && four.out == "stage 1\nstage 2\nstage 3\nstage 4\n", "\(four.err)")
        #expect(four.err.contains("resuming after stage 2"), "\(four.err)")
    }

    /// A plugin that forgets host_exec_result.struct_size is told so, by name.
    @Test func anExecResultWithoutItsSizeIsRefused() throws {
        let sandbox = try Sandbox()
        let source = sandbox.file("nosize.c")
        try """
            #include "host_plugin.h"
            static host_status run(host_call *call, host_machine *machine, host_machine **result) {
                (void)result;
                host_exec_result out = {0};
                return call->services->exec(call, machine, "true", 0, &out);
            }
            static const host_step step = {.struct_size = sizeof(host_step), .name = "nosize.run", .summary = "exec without struct_size",
                                           .entry = (host_step_entry)run};
            static const host_step *const steps[] = {&step};
            static const host_plugin plugin = {.struct_size = sizeof(host_plugin), .abi_major = HOST_ABI_MAJOR,
                                               .name = "nosize", .version = "1", .step_count = 1, .steps = steps};
            const host_plugin *host_plugin_entry_v1(void) { return &plugin; }
            """.write(to: source, atomically: true, encoding: .utf8)
        try sandbox.compileC(source, as: "nosize", strict: true)
        let run = try sandbox.run(["backend.fixture", "+", "nosize.run"])
        #expect(run.status == 1 && run.err.contains("exec: host_exec_result.struct_size is 0; set it to sizeof(host_exec_result) before the call"),
                "\(run.err)")
    }
}
