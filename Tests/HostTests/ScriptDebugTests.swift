import Foundation
import Testing

/// script.debug on a busybox VM: the script's shell lives in the machine,
/// checkpoints are keyed by the script's text, and an edited script goes
/// on from its longest unchanged prefix.
extension QemuBackendTests {
    /// Each command appends to /root/ran, so the file tells which ran, and
    /// how often, in the machine the last run ends with.
    private func script(_ sandbox: Sandbox, _ name: String, _ last: String) throws -> URL {
        let file = sandbox.file(name)
        try """
            #!/bin/sh
            # commands that leave state in the shell, not on the disk
            cd /tmp
            GREETING=hello
            greet() {
              echo "$GREETING from $(pwd)"
            }
            echo one >> /root/ran
            echo two >> /root/ran

            \(last)
            """.write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    @Test func anEditedScriptGoesOnFromItsLongestUnchangedPrefix() throws {
        let sandbox = try sandbox()
        let file = try script(sandbox, "edited.sh", "greet; echo three >> /root/ran")
        let pipeline = ["os.busybox", "+", "script.debug", file.path, "--every=0", "+", "exec", "cat /root/ran"]
        let first = try sandbox.succeed(pipeline)
        #expect(first.out == "hello from /tmp\none\ntwo\nthree\n", "\(first.err)")
        #expect(first.err.contains("script.debug: line 3: cd /tmp\n") && first.err.contains("script.debug: line 5: greet() {\n"), "\(first.err)")
        #expect(first.err.components(separatedBy: "script.debug: checkpoint after line").count - 1 == 6, "\(first.err)")
        #expect(try sandbox.succeed(["--json"] + pipeline).reused("script.debug"))

        _ = try script(sandbox, "edited.sh", "greet; echo four >> /root/ran")
        let edited = try sandbox.succeed(pipeline)
        // The shell's directory, variable and function came back with the
        // checkpoint; the first four commands did not run again.
        #expect(edited.out == "hello from /tmp\none\ntwo\nfour\n", "\(edited.err)")
        #expect(edited.err.contains("resuming after line 9, where the script is unchanged: 5 of 6 commands are not run again"), "\(edited.err)")
        #expect(!edited.err.contains("script.debug: line 8:"), "\(edited.err)")
    }

    @Test func everyBoundsTheCheckpoints() throws {
        let sandbox = try sandbox()
        let file = sandbox.file("every.sh")
        /// The lines a checkpoint was saved after.
        func checkpoints(_ every: String) throws -> [String] {
            // A script of its own each time: checkpoints do not depend on --every.
            try "# every \(every)\necho quick\nsleep 2\necho quick again\n".write(to: file, atomically: true, encoding: .utf8)
            let run = try sandbox.succeed(["--json", "os.busybox", "+", "script.debug", file.path, "--every=\(every)"])
            #expect(run.out == "quick\nquick again\n", "\(run.err)")
            return run.facts.compactMap { $0.event == .built ? $0.checkpoint : nil }
        }
        #expect(try checkpoints("100") == [])
        // `sleep 2` always takes longer than 1.5 s; on a loaded machine an
        // echo may too, so only the sleep's checkpoint is certain.
        #expect(try checkpoints("1.5").contains("checkpoint after line 3"))
        #expect(try checkpoints("0") == ["checkpoint after line 2", "checkpoint after line 3", "checkpoint after line 4"])
    }

    @Test func aFailureSaysWhatFailedAndLeavesTheMachineAsItWas() throws {
        let sandbox = try sandbox()
        let file = sandbox.file("failing.sh")
        let before = "cd /tmp\necho written > /root/marker\nSTATE=ready\n"
        try (before + "ls /nonexistent\necho after\n").write(to: file, atomically: true, encoding: .utf8)
        let pipeline = ["os.busybox", "+", "script.debug", file.path, "--every=0"]
        let failed = try sandbox.run(pipeline)
        #expect(failed.status == 1, "\(failed.err)")
        // The failing command's output, as it ran (busybox's exec gives
        // both streams as one).
        #expect((failed.out + failed.err).contains("ls: /nonexistent: No such file or directory\n"), "\(failed.err)")
        #expect(failed.err.contains("line 4 failed with exit status 1: ls /nonexistent; the checkpoints before it are kept"), "\(failed.err)")

        // On a terminal: a shell in the machine as the failure left it, in the script's folder.
        let session = try sandbox.onTerminal([["expect", "press Ctrl-] to detach"], ["send", "echo \"at $(pwd)\"; cat /root/marker\r"],
                                              ["expect", "written"], ["send", "\u{1d}"], ["expect", "line 4 failed"]], pipeline)
        #expect(session.status == 1, "\(session.screen)")
        #expect(session.screen.contains("a shell (console) in the machine as the failure left it, in /tmp, where the script was"), "\(session.screen)")
        #expect(session.screen.contains("at /tmp\r\n"), "\(session.screen)")

        // Fixed: it goes on from the checkpoint before the failure.
        try (before + "echo \"$STATE in $(pwd)\"; cat /root/marker\n").write(to: file, atomically: true, encoding: .utf8)
        let fixed = try sandbox.succeed(pipeline)
        #expect(fixed.out == "ready in /tmp\nwritten\n", "\(fixed.err)")
        #expect(fixed.err.contains("resuming after line 3"), "\(fixed.err)")
    }

    @Test func aScriptTheShellCannotParseRunsNothing() throws {
        let sandbox = try sandbox()
        let file = sandbox.file("broken.sh")
        try "echo fine\nif true; then\n  echo never\n".write(to: file, atomically: true, encoding: .utf8)
        let broken = try sandbox.run(["os.busybox", "+", "script.debug", file.path])
        #expect(broken.status == 64, "\(broken.err)")
        #expect(broken.err.contains("broken.sh has a syntax error, so nothing was run: line 4: syntax error: unexpected end of file"), "\(broken.err)")
        #expect(!broken.out.contains("fine"))
        let missing = try sandbox.run(["os.busybox", "+", "script.debug", sandbox.file("missing.sh").path])
        #expect(missing.status == 64 && missing.err.contains("missing.sh: there is no such file or directory"), "\(missing.err)")
        // The shell's exit ends the script, named as such.
        try "echo fine\nexit 7\necho never\n".write(to: file, atomically: true, encoding: .utf8)
        let exited = try sandbox.run(["os.busybox", "+", "script.debug", file.path])
        #expect(exited.status == 7 && exited.out == "fine\n", "\(exited.err)")
        #expect(exited.err.contains("line 2 failed with exit status 7: exit 7; the script's shell exited"), "\(exited.err)")
    }
}
