import Foundation
import Testing

/// Caching semantics through the real ABI, on the fixture backend.
@Suite struct CachingTests {
    @Test func secondIdenticalRunReusesTheCache() throws {
        let sandbox = try Sandbox()
        let record = sandbox.file("runs")
        let pipeline = ["backend.fixture", "+", "self_test.count", "--record=\(record.path)", "+", "exec", "cat count.txt"]
        let first = try sandbox.run(["--json"] + pipeline)
        #expect(first.status == 0, "\(first.err)")
        #expect(first.out == "counted\n")
        #expect(first.built("self_test.count"))
        let second = try sandbox.run(["--json"] + pipeline)
        #expect(second.status == 0)
        #expect(second.out == "counted\n")
        #expect(second.reused("self_test.count"))
        #expect(sandbox.runs(record) == 1)
    }

    @Test func transientStepsRunEveryTimeAndLeaveTheParentUntouched() throws {
        let sandbox = try Sandbox()
        let pipeline = ["backend.fixture", "+", "exec", "--transient", "touch scratch; echo transient ran",
                        "+", "exec", "test ! -e scratch && echo parent clean"]
        for _ in 0..<2 {
            let run = try sandbox.run(pipeline)
            #expect(run.status == 0, "\(run.err)")
            #expect(run.out == "transient ran\nparent clean\n")
        }
        let greeting = try sandbox.run(["backend.fixture", "+", "self_test.greeting", "+", "exec", "test ! -e .greeting"])
        #expect(greeting.status == 0, "\(greeting.err)")
        #expect(greeting.err.contains("greeting ok: Hello!"))
    }

    @Test func applyCachesTheSubStepOnItsOwn() throws {
        let sandbox = try Sandbox()
        let first = try sandbox.run(["--json", "backend.fixture", "+", "self_test.greeting", "--greeting=Hi there"])
        #expect(first.status == 0, "\(first.err)")
        #expect(first.built("self_test.make_greeting"))
        let second = try sandbox.run(["--json", "backend.fixture", "+", "self_test.greeting", "--greeting=Hi there"])
        #expect(second.reused("self_test.make_greeting"))
        #expect(second.err.contains("greeting ok: Hi there"))
        // The sub-step's entry is the same one a pipeline step would use.
        let direct = try sandbox.run(["--json", "backend.fixture", "+", "self_test.make_greeting", "--greeting=Hi there", "+", "exec", "cat .greeting"])
        #expect(direct.reused("self_test.make_greeting"))
        #expect(direct.out == "Hi there\n")
    }

    @Test func transientWhenLastIsCachedOnlyWhenSomethingFollows() throws {
        let sandbox = try Sandbox()
        #expect(try sandbox.run(["backend.fixture", "+", "self_test.note", "first"]).status == 0)
        #expect(try sandbox.run(["cache", "ls"]).out.contains("self_test.note") == false)
        let followed = try sandbox.run(["--json", "backend.fixture", "+", "self_test.note", "first", "+", "exec", "cat notes.txt"])
        #expect(followed.out == "first\n")
        #expect(followed.built("self_test.note"))
        #expect(try sandbox.run(["cache", "ls"]).out.contains("backend.fixture + self_test.note first"))
    }

    @Test func aChangedArgumentRebuilds() throws {
        let sandbox = try Sandbox()
        let record = sandbox.file("runs")
        _ = try sandbox.run(["backend.fixture", "+", "self_test.count", "--record=\(record.path)"])
        _ = try sandbox.run(["backend.fixture", "+", "self_test.count", "--record=\(record.path)", "--sleep=0.01"])
        #expect(sandbox.runs(record) == 2)
    }

    @Test func aChangedPluginFileRebuilds() throws {
        let sandbox = try Sandbox()
        let record = sandbox.file("runs")
        let pipeline = ["backend.fixture", "+", "self_test.count", "--record=\(record.path)"]
        _ = try sandbox.run(pipeline)
        // Trailing bytes change the file's digest but not what it does.
        let handle = try FileHandle(forWritingTo: sandbox.plugins.appendingPathComponent("self_test.so"))
        handle.seekToEndOfFile()
        handle.write(Data("rebuilt".utf8))
        try handle.close()
        let run = try sandbox.run(["--json"] + pipeline)
        #expect(run.status == 0, "\(run.err)")
        #expect(run.reused("backend.fixture"))
        #expect(sandbox.runs(record) == 2)
    }

    @Test func anExpiredResultRebuilds() throws {
        let sandbox = try Sandbox()
        let record = sandbox.file("runs")
        let pipeline = ["backend.fixture", "+", "self_test.count", "--record=\(record.path)", "--expire=1"]
        _ = try sandbox.run(pipeline)
        Thread.sleep(forTimeInterval: 1.5)
        let run = try sandbox.run(["--json"] + pipeline)
        #expect(run.rebuilt("self_test.count")?.contains("it expired") == true)
        #expect(sandbox.runs(record) == 2)
    }

    @Test func aTouchedFileDependencyRebuilds() throws {
        let sandbox = try Sandbox()
        let record = sandbox.file("runs"), input = sandbox.file("input.txt")
        try "one".write(to: input, atomically: true, encoding: .utf8)
        let pipeline = ["backend.fixture", "+", "self_test.count", "--record=\(record.path)", "--depend=\(input.path)"]
        _ = try sandbox.run(pipeline)
        _ = try sandbox.run(pipeline)
        #expect(sandbox.runs(record) == 1)
        try "two".write(to: input, atomically: true, encoding: .utf8)
        let run = try sandbox.run(["--json"] + pipeline)
        #expect(run.rebuilt("self_test.count") == "\(input.path) changed", "\(run.err)")
        #expect(sandbox.runs(record) == 2)
    }

    /// A reuse trusts a dependency's stamp (inode, size, times) instead of
    /// hashing it: the same bytes written over it in place, with only its
    /// times moved, still reuse; other bytes of the same size rebuild.
    @Test func aDependencyRewrittenInPlaceIsHashedAgain() throws {
        let sandbox = try Sandbox()
        let record = sandbox.file("runs"), input = sandbox.file("input.txt")
        try "one".write(to: input, atomically: true, encoding: .utf8)
        let pipeline = ["backend.fixture", "+", "self_test.count", "--record=\(record.path)", "--depend=\(input.path)"]
        _ = try sandbox.run(pipeline)
        func overwrite(_ text: String) throws {
            let handle = try FileHandle(forWritingTo: input)
            try handle.write(contentsOf: Data(text.utf8))
            try handle.close()
        }
        try overwrite("one")
        _ = try sandbox.run(pipeline)
        #expect(sandbox.runs(record) == 1)
        try overwrite("two")
        let run = try sandbox.run(["--json"] + pipeline)
        #expect(run.rebuilt("self_test.count") == "\(input.path) changed", "\(run.err)")
        #expect(sandbox.runs(record) == 2)
    }

    @Test func aRebuiltParentInvalidatesItsChildren() throws {
        let sandbox = try Sandbox()
        let parentRecord = sandbox.file("parent"), childRecord = sandbox.file("child")
        let pipeline = ["backend.fixture", "+", "self_test.count", "--record=\(parentRecord.path)", "--expire=1",
                        "+", "self_test.note", "child", "+", "self_test.count", "--record=\(childRecord.path)"]
        _ = try sandbox.run(pipeline)
        Thread.sleep(forTimeInterval: 1.5)
        #expect(try sandbox.run(pipeline).status == 0)
        #expect(sandbox.runs(parentRecord) == 2)
        #expect(sandbox.runs(childRecord) == 2)
    }

    @Test func stateCarriesAcrossCachedSteps() throws {
        let sandbox = try Sandbox()
        let run = try sandbox.run(["backend.fixture", "+", "exec", "touch x", "+", "exec", "test -e x"])
        #expect(run.status == 0, "\(run.err)")
        let failing = try sandbox.run(["backend.fixture", "+", "exec", "exit 3"])
        #expect(failing.status == 3)
        #expect(failing.err.contains("`exit 3` exited with status 3"))
    }

    @Test func filesTravelThroughTheBackend() throws {
        let sandbox = try Sandbox()
        let file = sandbox.file("payload")
        try "payload\n".write(to: file, atomically: true, encoding: .utf8)
        #expect(try sandbox.run(["backend.fixture", "+", "self_test.roundtrip", file.path]).status == 0)
        #expect(try String(contentsOf: URL(fileURLWithPath: file.path + ".back"), encoding: .utf8) == "payload\n")
    }

    @Test func consoleSendAndExpect() throws {
        let sandbox = try Sandbox()
        let regex = try sandbox.run(["backend.fixture", "+", "self_test.console", "echo console-$((40+2))", "console-4[0-9]", "--regex"])
        #expect(regex.status == 0, "\(regex.err)")
        #expect(regex.err.contains("console showed console-4[0-9]"))
        let literal = try sandbox.run(["backend.fixture", "+", "self_test.console", "echo a.b", "a.b"])
        #expect(literal.status == 0, "\(literal.err)")
        let missing = try sandbox.run(["backend.fixture", "+", "self_test.console", "echo yes", "no such text", "--timeout=300"])
        #expect(missing.status == 1)
        #expect(missing.err.contains("self_test.console: the console did not show \"no such text\" within 300 ms; it last showed: "))
        let invalid = try sandbox.run(["backend.fixture", "+", "self_test.console", "echo", "(", "--regex"])
        #expect(invalid.err.contains("/(/ is not a valid POSIX extended regular expression"))
    }

    @Test func aFailedStepCachesNothing() throws {
        let sandbox = try Sandbox()
        _ = try sandbox.run(["backend.fixture"])
        let before = try sandbox.cacheSnapshot()
        let run = try sandbox.run(["backend.fixture", "+", "exec", "touch y; exit 2", "+", "exec", "true"])
        #expect(run.status == 2)
        #expect(try sandbox.cacheSnapshot() == before)
        #expect(sandbox.temporaryLeftovers().isEmpty)
    }

    @Test func cacheLowersTheExpiryAndLeavesTheKeyAlone() throws {
        let sandbox = try Sandbox()
        let record = sandbox.file("runs")
        let short = try sandbox.succeed(["--json", "backend.fixture", "+", "self_test.count", "--record=\(record.path)", "--cache=1h", "+", "exec", "true"])
        #expect(short.built("self_test.count"))
        let json = try sandbox.succeed(["cache", "ls", "--json"])
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [[String: Any]])
        let expires = try #require(rows.first { ($0["pipeline"] as? String)?.contains("self_test.count") == true }?["expires"] as? String)
        let date = try #require(ISO8601DateFormatter().date(from: expires))
        #expect(date.timeIntervalSinceNow <= 3600 && date.timeIntervalSinceNow > 3000, "expires \(expires)")
        let plain = try sandbox.succeed(["--json", "backend.fixture", "+", "self_test.count", "--record=\(record.path)", "+", "exec", "true"])
        #expect(plain.reused("self_test.count"))
        #expect(sandbox.runs(record) == 1)
        // An entry older than --cache allows is built again, whoever built it.
        let none = try sandbox.succeed(["--json", "backend.fixture", "+", "self_test.count", "--record=\(record.path)", "--cache=0s", "+", "exec", "true"])
        #expect(none.rebuilt("self_test.count")?.contains("it is older than --cache allows") == true)
        #expect(sandbox.runs(record) == 2)
        let bad = try sandbox.run(["backend.fixture", "+", "exec", "true", "--cache=soon"])
        #expect(bad.status == 64)
        #expect(bad.err.contains("exec: --cache=soon is not a duration; write it like --cache=90s, 30m, 12h or 7d"))
    }

    @Test func aBackendThatSavesNothingRunsEveryStepOnItsOneMachine() throws {
        let sandbox = try Sandbox()
        let record = sandbox.file("runs")
        let pipeline = ["backend.fixture.unsaved", "--label=live", "+", "exec", "touch made-here", "+", "self_test.count",
                        "--record=\(record.path)", "+", "exec", "cat label; test -e made-here && echo same machine"]
        for round in 1...2 {
            let run = try sandbox.succeed(pipeline)
            #expect(run.out == "live\nsame machine\n")
            #expect(run.err.contains("backend.fixture.unsaved does not save machines, so nothing is cached"))
            #expect(sandbox.runs(record) == round)
        }
        #expect(try sandbox.cacheSnapshot().isEmpty)
    }
}
