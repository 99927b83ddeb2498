import Foundation
import HostCore
import Testing

/// What a person sees from `host` on good and bad command lines.
@Suite struct CommandLineTests {
    @Test func unknownStepSuggestsTheNearestNames() throws {
        let run = try Sandbox().run(["backend.fixture", "+", "self_test.cont"])
        #expect(run.status == 64)
        #expect(run.err.contains("unknown step self_test.cont; did you mean self_test.count"))
    }

    @Test func unknownParameterListsTheStepsParameters() throws {
        let run = try Sandbox().run(["backend.fixture", "+", "self_test.count", "--colour=red"])
        #expect(run.status == 64)
        #expect(run.err.contains("self_test.count: unknown parameter --colour; its parameters are --record, --sleep, --expire, --depend"))
    }

    @Test func wrongTypeNamesStepParameterAndWhatWouldBeRight() throws {
        let run = try Sandbox().run(["backend.fixture", "+", "self_test.args", "x", "--count=abc"])
        #expect(run.status == 64)
        #expect(run.err.contains("self_test.args: --count=abc: count is an int; write a whole number such as 3"))
    }

    @Test func missingRequiredParameter() throws {
        let run = try Sandbox().run(["backend.fixture", "+", "self_test.args"])
        #expect(run.status == 64)
        #expect(run.err.contains("self_test.args: missing required parameter name (string)"))
        let exec = try Sandbox().run(["backend.fixture", "+", "exec"])
        #expect(exec.status == 64)
        #expect(exec.err.contains("exec: missing required parameter command"))
    }

    @Test func aFirstStepThatNeedsAMachine() throws {
        // `host exec` is the command on named machines; after `--` a pipeline.
        let command = try Sandbox().run(["exec", "true"])
        #expect(command.status == 64 && command.err.contains("host os.busybox + exec"), "\(command.err)")
        let run = try Sandbox().run(["--", "exec", "true"])
        #expect(run.status == 64)
        #expect(run.err.contains("exec needs a machine, so it cannot start a pipeline; start with a step that makes one (backend.fixture, backend.fixture.unsaved)"))
    }

    @Test func emptyStepsAndMisplacedBackends() throws {
        let sandbox = try Sandbox()
        #expect(try sandbox.run(["backend.fixture", "+"]).status == 64)
        let late = try sandbox.run(["backend.fixture", "+", "backend.fixture"])
        #expect(late.status == 64)
        #expect(late.err.contains("a pipeline runs on one backend, and this one starts with backend.fixture; remove backend.fixture"))
    }

    @Test func everyArgumentTypeCrossesTheABI() throws {
        let run = try Sandbox().run(["backend.fixture", "+", "self_test.args", "x", "--count=-3", "--flag", "--ratio=2.25",
                                     "--tag=a", "--tag=b", "--mode=fast", "--no-cache", "--", "w1", "--w2"])
        #expect(run.status == 0, "\(run.err)")
        #expect(run.out == "name=x count=-3 flag=true ratio=2.25\ntag=[\"a\", \"b\"] words=[\"w1\", \"--w2\"] extra=[\"mode=fast\", \"no-cache=true\"]\n")
    }

    @Test func listPluginsShowsEveryStepWithItsFile() throws {
        let sandbox = try Sandbox()
        let text = try sandbox.run(["list-plugins"])
        #expect(text.status == 0)
        #expect(text.out.contains("exec  [step]  transient-when-last, cacheable\n"))
        #expect(text.out.contains("backend.fixture  [backend]  cacheable, starts-pipeline\n"))
        #expect(text.out.contains("    --sleep (double, default 0.0)  seconds to work before finishing\n"))
        #expect(text.out.contains("    from \(sandbox.plugins.path)/self_test.so (self_test 1.0.0)\n"))
        let json = try sandbox.run(["list-plugins", "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: Any]
        let steps = object?["steps"] as? [[String: Any]] ?? []
        let exec = steps.first { $0["name"] as? String == "exec" }
        #expect(exec?["kind"] as? String == "step")
        #expect(exec?["flags"] as? [String] == ["transient-when-last", "cacheable"])
        let parameter = (exec?["parameters"] as? [[String: Any]])?.first
        #expect(parameter?["type"] as? String == "rest")
        #expect(parameter?["required"] as? Bool == true)
    }

    @Test func helpShowsOneStep() throws {
        let run = try Sandbox().run(["help", "self_test.count"])
        #expect(run.status == 0)
        #expect(run.out.hasPrefix("self_test.count: Record each real run in a host file, so tests can prove caching\n"))
        #expect(run.out.contains("  --expire (int, default 0)  seconds the result stays valid (0: the default)\n"))
        #expect(try Sandbox().run(["help", "nope"]).status == 64)
    }

    /// Control bytes in what host quotes are shown, not obeyed: a step name
    /// typed with an escape sequence cannot retitle the terminal.
    @Test func controlBytesInHostsMessagesAreEscaped() throws {
        let run = try Sandbox().run(["backend.fixture\u{1B}]0;pwned\u{07}", "+", "exec", "true"])
        #expect(run.status == 64)
        #expect(!run.err.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" } && run.err.contains("\\e]0;pwned\\x07"), "\(run.err)")
        #expect(TerminalText.escaped("a\tb\nc\u{7F}\u{85}") == "a\tb\nc\\x7f\\x85")
    }

    /// A message test: what help says is kept of a step matches what is.
    @Test func helpSaysWhatIsKeptOfTransientSteps() throws {
        let sandbox = try Sandbox(plugins: Sandbox.standardPlugins + ["console"])
        let console = try sandbox.succeed(["help", "console"]).out
        #expect(console.contains("never kept") && !console.contains("results kept"), "\(console)")
        #expect(try sandbox.succeed(["help", "exec"]).out.contains("as the last step it runs every time"))
        #expect(try sandbox.succeed(["help", "self_test.count"]).out.contains("results kept 168 h\n"))
    }

    @Test func cacheListingAndCleanup() throws {
        let sandbox = try Sandbox()
        #expect(try sandbox.run(["backend.fixture", "--label=x", "+", "exec", "touch a", "+", "exec", "true"]).status == 0)
        let listing = try sandbox.run(["cache", "ls"])
        #expect(listing.out.hasPrefix("KEY           SIZE      AGE       EXPIRES IN  PIPELINE\n"))
        #expect(listing.out.contains("backend.fixture --label=x + exec 'touch a'\n"))
        #expect(listing.out.split(separator: "\n").count == 3)
        let expired = try sandbox.run(["cleanup", "machines", "expired"])
        #expect(expired.out.hasPrefix("removed 0 machine(s)"))
        let everything = try sandbox.run(["cleanup", "everything"])
        #expect(everything.out.hasPrefix("removed 2 machine(s)"))
        #expect(try sandbox.run(["cache", "ls"]).out == "no cached machines\n")
        #expect(try sandbox.run(["cleanup", "sideways"]).status == 64)
    }

    @Test func cacheLivesUnderXDGCacheHomeByDefault() throws {
        let sandbox = try Sandbox()
        var environment = sandbox.environment
        environment["HOST_CACHE_DIR"] = nil
        environment["XDG_CACHE_HOME"] = sandbox.file("xdg").path
        let run = try Sandbox.execute(Sandbox.products.appendingPathComponent("host").path,
                                      ["backend.fixture"], environment: environment)
        #expect(run.status == 0, "\(run.err)")
        #expect(FileManager.default.fileExists(atPath: sandbox.file("xdg/host/machines").path))
    }
}
