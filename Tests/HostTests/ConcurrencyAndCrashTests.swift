import Foundation
import Testing

/// Two runs at once build once; a killed run leaves the cache as it was.
@Suite struct ConcurrencyAndCrashTests {
    @Test func twoConcurrentIdenticalPipelinesBuildOnce() throws {
        let sandbox = try Sandbox()
        let record = sandbox.file("runs")
        let pipeline = ["backend.fixture", "+", "self_test.count", "--record=\(record.path)", "--sleep=1.5",
                        "+", "exec", "cat count.txt"]
        let errors = [sandbox.file("first.err"), sandbox.file("second.err")]
        let runs = try errors.map { try sandbox.start(pipeline, errors: $0) }
        for (run, messages) in zip(runs, errors) {
            run.waitUntilExit()
            #expect(run.terminationStatus == 0, "\((try? String(contentsOf: messages, encoding: .utf8)) ?? "")")
        }
        #expect(sandbox.runs(record) == 1)
    }

    @Test func sigkillMidStepLeavesTheCacheAsItWas() throws {
        let sandbox = try Sandbox()
        #expect(try sandbox.run(["backend.fixture", "+", "self_test.note", "kept", "+", "exec", "true"]).status == 0)
        let before = try sandbox.cacheSnapshot()
        #expect(!before.isEmpty)

        let record = sandbox.file("runs")
        let run = try sandbox.start(["backend.fixture", "+", "self_test.note", "kept",
                                     "+", "self_test.count", "--record=\(record.path)", "--sleep=60", "+", "exec", "true"])
        // The record line is written when the step has started working.
        let deadline = Date().addingTimeInterval(60)
        while sandbox.runs(record) == 0 && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        #expect(sandbox.runs(record) == 1)
        run.kill()
        run.waitUntilExit()
        #expect(run.terminationReason == .uncaughtSignal)

        #expect(try sandbox.cacheSnapshot() == before)
        // The next run sweeps what the killed one left and works normally.
        let next = try sandbox.run(["backend.fixture", "+", "self_test.note", "kept", "+", "exec", "cat notes.txt"])
        #expect(next.status == 0)
        #expect(next.out == "kept\n")
        #expect(sandbox.temporaryLeftovers().isEmpty)
    }

    @Test func ctrlCMidStepSaysSoAndLeavesTheCacheAsItWas() throws {
        let sandbox = try Sandbox()
        #expect(try sandbox.run(["backend.fixture", "+", "exec", "touch kept", "+", "exec", "true"]).status == 0)
        let before = try sandbox.cacheSnapshot()
        let record = sandbox.file("runs")
        let messages = sandbox.file("messages")
        let process = try sandbox.start(["backend.fixture", "+", "exec", "touch kept", "+", "self_test.count",
                                         "--record=\(record.path)", "--sleep=60"], errors: messages)
        let deadline = Date().addingTimeInterval(60)
        while sandbox.runs(record) == 0 && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        process.kill(SIGINT)
        process.waitUntilExit()
        #expect(process.terminationStatus == 130)
        #expect(try String(contentsOf: messages, encoding: .utf8).hasSuffix("host: interrupted; the cache is as it was before this run\n"))
        #expect(try sandbox.cacheSnapshot() == before)
    }

    @Test func cleanupNeverRemovesAMachineInUse() throws {
        let sandbox = try Sandbox()
        #expect(try sandbox.run(["backend.fixture"]).status == 0)
        let record = sandbox.file("runs")
        let user = try sandbox.start(["backend.fixture", "+", "self_test.count", "--record=\(record.path)", "--sleep=3"])
        let deadline = Date().addingTimeInterval(60)
        while sandbox.runs(record) == 0 && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        let cleanup = try sandbox.run(["cleanup", "machines", "all"])
        #expect(cleanup.status == 0)
        #expect(cleanup.out.contains("kept 1 in use by another run"))
        user.waitUntilExit()
        #expect(user.terminationStatus == 0)
        let after = try sandbox.run(["cleanup", "machines", "all"])
        #expect(after.out.contains("removed 2 machine(s)"))
        #expect(try sandbox.run(["cache", "ls"]).out == "no cached machines\n")
    }
}
