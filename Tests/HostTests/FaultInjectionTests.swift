import Foundation
import Testing

/// host killed with SIGKILL at seeded random moments in every phase of a
/// run (a cold build, a save, a warm restore, a transient step's teardown,
/// a cleanup), on QEMU and on podman with CRIU, and six identical pipelines
/// at once. After each: nothing of the run is left running, every entry
/// verifies, and the next run gives the right output. The seed is printed;
/// HOST_FAULT_SEED repeats a run and HOST_FAULT_TRIALS sets the trials per
/// phase. (The damaged-file cases live with each backend's tests and in
/// CacheIntegrityTests.)
@Suite(.serialized) struct FaultInjectionTests {
    static let seed = UInt64(ProcessInfo.processInfo.environment["HOST_FAULT_SEED"] ?? "") ?? UInt64(Date().timeIntervalSince1970)
    static let trials = Int(ProcessInfo.processInfo.environment["HOST_FAULT_TRIALS"] ?? "") ?? 1

    static let qemu = Sandbox.shared(plugins: ["backend_qemu", "os_busybox", "exec"])
    static let podman = Sandbox.shared(plugins: ["backend_podman-criu", "os_busybox", "exec"])

    /// A backend as the trials see it: the pipeline to a busybox machine,
    /// and the file whose appearance in a build directory means a save has begun.
    struct Backend: CustomStringConvertible, Sendable {
        let description: String
        let base: [String]
        let savedFile: String
        let sandbox: @Sendable () throws -> Sandbox
    }

    static let backends = [
        Backend(description: "qemu", base: ["backend.qemu", "+", "os.busybox"], savedFile: "state.zst") { try qemu.get() },
        Backend(description: "podman", base: ["backend.podman-criu", "+", "os.busybox"], savedFile: "checkpoint.tar.zst") { try podman.get() },
    ]

    @Test(arguments: backends)
    func sigkillAtRandomPointsOfEveryPhase(_ backend: Backend) throws {
        let sandbox = try backend.sandbox()
        var random = SplitMix(seed: Self.seed)
        print("fault injection on \(backend): seed \(Self.seed) (HOST_FAULT_SEED repeats it), \(Self.trials) trials per phase")
        _ = try sandbox.succeed(backend.base + ["+", "exec", "true"])
        // A step that is built and saved (an exec that is not last is
        // cached), and a transient one after it that shows its work.
        func step(_ text: String) -> [String] { backend.base + ["+", "exec", "echo \(text) > /root/t"] }
        func built(_ text: String) -> [String] { step(text) + ["+", "exec", "--transient", "cat /root/t"] }
        let transient = ["+", "exec", "--transient", "echo printed; sleep 0.2"]
        // Uninterrupted runs tell how long each phase lasts: a kill then
        // falls inside it, wherever the seed says.
        let cold = try window(sandbox, built("cold"), from: .start)
        let save = try window(sandbox, built("save"), from: .file(backend.savedFile))
        let warm = try window(sandbox, built("save"), from: .start)
        let teardown = try window(sandbox, step("save") + transient, from: .output("printed"))

        for trial in 0..<Self.trials {
            let tag = "t\(Self.seed % 10000)-\(trial)"
            try killed(sandbox, built(tag), at: .start, after: random.fraction() * cold, "cold build \(tag)")
            try expectRecovered(sandbox, built(tag), prints: "\(tag)\n")

            try killed(sandbox, built(tag + "-saved"), at: .file(backend.savedFile), after: random.fraction() * save, "save \(tag)")
            try expectRecovered(sandbox, built(tag + "-saved"), prints: "\(tag)-saved\n")

            try killed(sandbox, built(tag), at: .start, after: random.fraction() * warm, "warm restore \(tag)")
            try expectRecovered(sandbox, built(tag), prints: "\(tag)\n")

            try killed(sandbox, step(tag) + transient, at: .output("printed"), after: random.fraction() * teardown, "transient teardown \(tag)")
            try expectRecovered(sandbox, built(tag), prints: "\(tag)\n")

            // A cleanup removing expired entries: one timed, one killed.
            let expiring = backend.base + ["+", "exec", "--cache=1s", "echo \(tag) > /root/e", "+", "exec", "true"]
            _ = try sandbox.succeed(expiring)
            Thread.sleep(forTimeInterval: 1.1)
            let cleanup = try window(sandbox, ["cleanup", "machines", "expired"], from: .start)
            _ = try sandbox.succeed(expiring)
            Thread.sleep(forTimeInterval: 1.1)
            try killed(sandbox, ["cleanup", "machines", "expired"], at: .start, after: random.fraction() * cleanup, "cleanup \(tag)")
            try expectRecovered(sandbox, built(tag), prints: "\(tag)\n")
        }
    }

    /// Six runs of one pipeline at once: one builds, five wait and restore.
    @Test(arguments: backends)
    func sixConcurrentIdenticalPipelinesBuildOnce(_ backend: Backend) throws {
        let sandbox = try backend.sandbox()
        let tag = "six-\(Self.seed)"
        let pipeline = backend.base + ["+", "exec", "echo \(tag) > /root/six", "+", "exec", "--transient", "cat /root/six"]
        let files = (0..<6).map { (sandbox.file("six-\($0).out"), sandbox.file("six-\($0).err")) }
        let runs = try files.map { try sandbox.start(["--json"] + pipeline, output: $0.0, errors: $0.1) }
        for run in runs { run.waitUntilExit() }
        var builds = 0
        for (run, (output, errors)) in zip(runs, files) {
            let messages = try String(contentsOf: errors, encoding: .utf8)
            #expect(run.terminationStatus == 0, "\(messages)")
            #expect(try String(contentsOf: output, encoding: .utf8) == "\(tag)\n")
            builds += Sandbox.Result(status: 0, out: "", err: messages).facts.filter { $0.event == .built && $0.step == "exec" }.count
        }
        #expect(builds == 1, "the step was built \(builds) times")
        #expect(leftovers(of: sandbox).isEmpty)
    }

    // MARK: Trials

    enum Moment {
        case start
        /// When a build directory holds this saved file.
        case file(String)
        /// When host's output holds this text.
        case output(String)
    }

    /// Seconds from `moment` to the end of an uninterrupted run.
    func window(_ sandbox: Sandbox, _ arguments: [String], from moment: Moment) throws -> Double {
        let run = try sandbox.start(arguments, output: sandbox.file("trial.out"))
        let reached = wait(for: moment, in: sandbox, run) ?? Date()
        run.waitUntilExit()
        #expect(run.terminationStatus == 0, "host \(arguments.joined(separator: " ")) failed")
        return Date().timeIntervalSince(reached)
    }

    /// Starts host and kills it `delay` seconds after `moment`, unless it
    /// ended first.
    func killed(_ sandbox: Sandbox, _ arguments: [String], at moment: Moment, after delay: Double, _ what: String) throws {
        let run = try sandbox.start(arguments, output: sandbox.file("trial.out"))
        let reached = wait(for: moment, in: sandbox, run)
        let end = (reached ?? Date()).addingTimeInterval(delay)
        while run.isRunning && Date() < end { usleep(2_000) }
        if run.isRunning { run.kill() }
        run.waitUntilExit()
        let outcome = run.terminationReason == .uncaughtSignal ? "killed" : reached == nil ? "ended before the moment came" : "ended first"
        print("fault injection: \(what): \(outcome), \(String(format: "%.3f", delay)) s after \(moment)")
    }

    /// When `moment` came, or nil when the run ended first (or after 300 s).
    func wait(for moment: Moment, in sandbox: Sandbox, _ run: HostRun) -> Date? {
        let deadline = Date().addingTimeInterval(300)
        while run.isRunning && Date() < deadline {
            switch moment {
            case .start: return Date()
            case let .file(name): if saving(in: sandbox.cache.appendingPathComponent("machines/.tmp"), name) { return Date() }
            case let .output(text):
                if ((try? String(contentsOf: sandbox.file("trial.out"), encoding: .utf8)) ?? "").contains(text) { return Date() }
            }
            usleep(2_000)
        }
        return nil
    }

    /// Whether a build directory holds `name` under its machine directory.
    func saving(in building: URL, _ name: String) -> Bool {
        let builds = (try? FileManager.default.contentsOfDirectory(atPath: building.path)) ?? []
        return builds.contains { FileManager.default.fileExists(atPath: building.appendingPathComponent("\($0)/machine/\(name)").path) }
    }

    /// After a kill: nothing left running, every entry whole, and the next
    /// run right.
    func expectRecovered(_ sandbox: Sandbox, _ pipeline: [String], prints expected: String) throws {
        let deadline = Date().addingTimeInterval(60) // a deadline, not a timing: tearing down may take a while
        while !leftovers(of: sandbox).isEmpty && Date() < deadline { usleep(100_000) }
        #expect(leftovers(of: sandbox).isEmpty, "left running: \(leftovers(of: sandbox))")
        let verify = try sandbox.run(["cache", "verify", "--all"])
        #expect(verify.status == 0, "\(verify.out)\(verify.err)")
        let listed = try sandbox.run(["cache", "ls", "--json"])
        #expect(listed.status == 0 && (try? JSONSerialization.jsonObject(with: Data(listed.out.utf8))) != nil, "\(listed.err)")
        let next = try sandbox.succeed(pipeline)
        #expect(next.out == expected, "\(next.err)")
        #expect(sandbox.temporaryLeftovers().isEmpty, "build directories left: \(sandbox.temporaryLeftovers())")
    }

    /// QEMU, ssh, podman, conmon and CRIU processes working for this
    /// sandbox, and its containers.
    func leftovers(of sandbox: Sandbox) -> [String] {
        let processes = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { pid -> String? in
            guard Int(pid) != nil, let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
            let line = String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
            let program = (line.split(separator: " ").first.map(String.init) ?? "") as NSString
            guard ["ssh", "podman", "conmon", "criu"].contains(program.lastPathComponent) || program.lastPathComponent.hasPrefix("qemu-system"),
                  line.contains(sandbox.root.path) else { return nil }
            return "\(pid): \(line.prefix(120))"
        }
        return processes + ((try? PodmanTests.containers(of: sandbox)) ?? []).map { "container \($0)" }
    }

    func timed(_ body: () throws -> Void) throws -> Double {
        let start = Date()
        try body()
        return Date().timeIntervalSince(start)
    }
}

/// A small seeded generator (SplitMix64), so a failing trial can be rerun.
struct SplitMix {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// In [0, 1).
    mutating func fraction() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
