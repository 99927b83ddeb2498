import Foundation
import Testing

/// backend.libvirt on a real libvirtd (Tests/Fixtures/hypervisor), as
/// qemu:///system and as a remote hypervisor through qemu+ssh to a loopback
/// sshd. One cache serves the suite, so each guest boots cold once per run.
@Suite(.serialized) struct LibvirtBackendTests {
    static let plugins = ["backend_libvirt", "os_busybox", "os_debian", "exec", "ssh", "self_test", "network"]
    /// The hypervisor first: its atexit handler (stopping libvirtd) then
    /// runs after the sandbox's, which deletes the sandbox's volumes.
    static let shared: Swift.Result<(LocalHypervisor, Sandbox), any Error> = Swift.Result {
        let hypervisor = try LocalHypervisor.shared.get()
        return (hypervisor, try Sandbox.shared(plugins: plugins).get())
    }

    func world() throws -> (hypervisor: LocalHypervisor, sandbox: Sandbox) { try Self.shared.get() }

    /// host's domains on the hypervisor, running or defined.
    static func domains() throws -> [String] {
        try LocalHypervisor.virsh(["list", "--all", "--name"]).split(separator: "\n").map(String.init).filter { $0.hasPrefix("host-") }
    }

    /// Whether host's domains are all gone within `seconds`: a run's last
    /// domain is told to quit as host exits, and takes a moment to go.
    static func domainsGone(within seconds: TimeInterval = 30) throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while try !domains().isEmpty {
            guard Date() < deadline else { return false }
            Thread.sleep(forTimeInterval: 0.2)
        }
        return true
    }

    /// The volumes the sandbox's cache entries own.
    static func ownVolumes(_ sandbox: Sandbox) -> [String] {
        let machines = sandbox.cache.appendingPathComponent("machines")
        return ((try? FileManager.default.contentsOfDirectory(atPath: machines.path)) ?? []).flatMap { entry -> [String] in
            guard let data = FileManager.default.contents(atPath: machines.appendingPathComponent("\(entry)/machine/libvirt.json").path),
                  let record = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [] }
            return record["own"] as? [String] ?? []
        }
    }

    static func poolVolumes() throws -> Set<String> {
        Set(try LocalHypervisor.virsh(["vol-list", "host"]).split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) })
    }

    @Test func aRestoredDomainKeepsItsFilesAndItsRunningProcesses() throws {
        let (_, sandbox) = try world()
        let setUp = ["backend.libvirt", "+", "os.busybox", "+", "exec", "echo marker > /root/marker; sleep 1000 >/dev/null 2>&1 & echo $! > /root/pid"]
        _ = try sandbox.succeed(setUp + ["+", "exec", "true"])
        // A new host process: libvirt restores the saved domain onto a new overlay.
        let check = try sandbox.succeed(["--json"] + setUp + ["+", "exec", "cat /root/marker; kill -0 $(cat /root/pid) && echo still running"])
        #expect(check.reused("exec"))
        #expect(check.out == "marker\nstill running\n")
        let failing = try sandbox.run(["backend.libvirt", "+", "os.busybox", "+", "exec", "echo to-stderr >&2; exit 5"])
        #expect(failing.status == 5 && failing.out == "to-stderr\n", "\(failing.err)") // the serial console merges the streams
        // Every volume the cache records is in the pool, and no domain outlived its run.
        let pool = try Self.poolVolumes()
        #expect(Set(Self.ownVolumes(sandbox)).isSubset(of: pool))
        #expect(try Self.domainsGone())
    }

    /// A named machine on libvirt (`host up --name`): up, exec, a stop and
    /// start that keep a running process, and no domain left after rm.
    @Test func aNamedDomainUpExecStopStart() throws {
        let (_, sandbox) = try world()
        _ = try sandbox.succeed(["up", "--name=lv", "backend.libvirt", "+", "os.busybox"])
        let pid = try sandbox.succeed(["exec", "lv", "--", "sleep 1000 >/dev/null 2>&1 & echo $! > /root/pid; cat /root/pid"]).out
        _ = try sandbox.succeed(["stop", "lv"])
        _ = try sandbox.succeed(["up", "lv"])
        let resumed = try sandbox.succeed(["exec", "lv", "--", "cat /root/pid; kill -0 $(cat /root/pid) && echo alive"])
        #expect(resumed.out == pid + "alive\n", "\(resumed)")
        // Its memory is the domain's QEMU's; SIGKILL of the monitor ends the domain, and it is dead.
        let row = try #require(try NamedMachineTests.machines(sandbox)["lv"])
        #expect((row["pss"] as? Int ?? 0) > 0, "\(row)")
        kill(try #require(row["monitor"] as? Int32), SIGKILL)
        #expect(try Self.domainsGone())
        #expect(try NamedMachineTests.machines(sandbox)["lv"]?["state"] as? String == "dead")
        _ = try sandbox.succeed(["rm", "lv"])
    }

    /// Two runs that restore the same saved domain at once: libvirt runs
    /// one copy of it at a time, so the second waits for the first to end
    /// its domain, and both succeed.
    @Test func twoRunsOfOneSavedDomainAtOnce() throws {
        let (_, sandbox) = try world()
        let base = ["backend.libvirt", "+", "os.busybox", "+", "exec", "echo shared > /root/shared"]
        _ = try sandbox.succeed(base + ["+", "exec", "true"])
        let pipeline = base + ["+", "exec", "sleep 2; cat /root/shared"]
        let files = (0..<2).map { (sandbox.file("both-\($0).out"), sandbox.file("both-\($0).err")) }
        let runs = try files.map { try sandbox.start(pipeline, output: $0.0, errors: $0.1) }
        for run in runs { run.waitUntilExit() }
        for (run, (output, errors)) in zip(runs, files) {
            let err = (try? String(contentsOf: errors, encoding: .utf8)) ?? ""
            #expect(run.terminationStatus == 0, "\(err)")
            #expect(try String(contentsOf: output, encoding: .utf8) == "shared\n", "\(err)")
        }
        #expect(try Self.domainsGone())
    }

    /// The KVM probe of a remote hypervisor is keyed to that hypervisor's
    /// boot (here injected through the test hook: the "remote" hypervisor
    /// is this computer), not to this computer's: a backend step made anew
    /// (another --cores) probes once per boot of the hypervisor.
    @Test func theKVMProbeFollowsTheHypervisorsBoot() throws {
        let (hypervisor, sandbox) = try world()
        let boot = UUID().uuidString
        // Where the probe's finding is kept: a private runtime directory.
        let runtime = sandbox.file("runtime-\(boot)")
        try FileManager.default.createDirectory(at: runtime, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        func probed(cores: Int, boot: String) throws -> Bool {
            let run = try sandbox.run(["backend.libvirt", "--uri=\(hypervisor.remoteURI)", "--cores=\(cores)"],
                                      extraEnvironment: ["HOST_TEST_HYPERVISOR_BOOT_ID": boot, "HOST_QEMU_ACCEL": "", "HOST_TRACE": "1",
                                                         "XDG_RUNTIME_DIR": runtime.path])
            #expect(run.status == 0, "\(run.err)")
            return run.err.contains("libvirt: probing KVM on ")
        }
        #expect(try probed(cores: 3, boot: "first-" + boot))
        #expect(try !probed(cores: 5, boot: "first-" + boot))
        #expect(try probed(cores: 7, boot: "second-" + boot))
    }

    /// seal restores the domain with a restricted network (the XML a
    /// restore is given), unseal gives the network back.
    @Test func sealAndUnsealOnLibvirt() throws {
        let (_, sandbox) = try world()
        let server = try LocalWebServer(serving: "served\n")
        let fetch = "wget -q -O- \(server.guestURL) 2>&1; echo status $?"
        let sealed = ["backend.libvirt", "+", "os.busybox", "+", "exec", "echo sealed > /root/s", "+", "seal"]
        for _ in 0..<2 { // sealed while running, then restored from the saved entry
            let run = try sandbox.succeed(sealed + ["+", "exec", "cat /root/s; " + fetch])
            #expect(run.out.hasPrefix("sealed\n") && !run.out.contains("served") && !run.out.hasSuffix("status 0\n"), "\(run.out)")
        }
        let unsealed = try sandbox.succeed(sealed + ["+", "unseal", "+", "exec", fetch])
        #expect(unsealed.out == "served\nstatus 0\n", "\(unsealed.err)")
        let wrong = try sandbox.run(["backend.libvirt", "--network=none", "+", "os.busybox"])
        #expect(wrong.status == 64 && wrong.err.contains("use user or restricted"), "\(wrong.err)")
        #expect(try Self.domainsGone())
    }

    @Test func aTransientStepLeavesNothing() throws {
        let (_, sandbox) = try world()
        _ = try sandbox.succeed(["backend.libvirt", "+", "os.busybox"])
        let before = try Self.poolVolumes()
        _ = try sandbox.succeed(["backend.libvirt", "+", "os.busybox", "+", "exec", "--transient", "echo gone > /root/transient"])
        let after = try sandbox.succeed(["backend.libvirt", "+", "os.busybox", "+", "exec", "cat /root/transient 2>/dev/null || echo absent"])
        #expect(after.out == "absent\n")
        let now = try Self.poolVolumes()
        #expect(now == before, "a run that saved nothing left volumes behind: \(now.subtracting(before))")
    }

    @Test func aMissingVolumeIsDetectedAndRebuilt() throws {
        let (_, sandbox) = try world()
        let pipeline = ["backend.libvirt", "+", "os.busybox", "+", "exec", "echo rebuilt-\(UInt32.random(in: 0...UInt32.max)) > /root/r"]
        let built = try sandbox.succeed(["--json"] + pipeline + ["+", "exec", "true"]) // the last step is not saved
        let entry = try sandbox.builtEntry(built, step: "exec")
        let record = try JSONSerialization.jsonObject(with: Data(contentsOf: entry.appendingPathComponent("machine/libvirt.json"))) as? [String: Any]
        let state = try #require((record?["state"] as? [String: Any])?["name"] as? String)
        _ = try LocalHypervisor.virsh(["vol-delete", "--pool", "host", state])
        let again = try sandbox.succeed(["--json"] + pipeline + ["+", "exec", "cat /root/r"])
        #expect(again.err.contains("is missing from the pool host"), "\(again.err)")
        #expect(again.built("exec"), "\(again.err)")
        #expect(again.out.hasPrefix("rebuilt-"))
    }

    @Test func sigkillOfHostLeavesNoDomain() throws {
        let (_, sandbox) = try world()
        _ = try sandbox.succeed(["backend.libvirt", "+", "os.busybox"])
        #expect(try Self.domainsGone(), "an earlier run's domain is still there")
        // The exec step's domain is restored (no auto-destroy): the watchdog's to end.
        let errors = sandbox.file("sigkill.err")
        let run = try sandbox.start(["backend.libvirt", "+", "os.busybox", "+", "exec", "sleep 300"], errors: errors)
        let deadline = Date().addingTimeInterval(120)
        while try Self.domains().isEmpty && run.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.2) }
        let started = try Self.domains()
        #expect(!started.isEmpty, "the run's domain never started (host \(run.isRunning ? "runs" : "ended: \(run.terminationReason == .uncaughtSignal ? "signal" : "status") \(run.terminationStatus)")): \((try? String(contentsOf: errors, encoding: .utf8)) ?? "")")
        run.kill()
        #expect(run.terminationReason == .uncaughtSignal, "host ended before it was killed")
        let gone = try Self.domainsGone(within: 60), left = try Self.domains()
        #expect(gone, "domains outlived host: \(left)")
    }

    /// A remote hypervisor as host reaches one: libvirt over ssh, and the
    /// guest's sshd through the hypervisor host's loopback (ssh -W).
    @Test func debianOnARemoteHypervisor() throws {
        let (hypervisor, sandbox) = try world()
        let backend = ["backend.libvirt", "--uri=\(hypervisor.remoteURI)"]
        let first = try sandbox.succeed(backend + ["+", "os.debian", "+", "exec", "uname -s; systemctl is-system-running"])
        #expect(first.out == "Linux\nrunning\n" || first.out == "Linux\ndegraded\n", "\(first.out)")
        // Restored: the command goes through the guest agent, streams apart.
        let restored = try sandbox.run(backend + ["+", "os.debian", "+", "exec", "echo out; echo err >&2; exit 3"],
                                       extraEnvironment: ["HOST_TRACE": "1"])
        #expect(restored.status == 3 && restored.out == "out\n", "\(restored.err)")
        #expect(restored.err.contains("err\n") && restored.err.contains("libvirt: guest agent answered"), "\(restored.err)")
        // SSH through the hypervisor host.
        let ssh = try sandbox.succeed(backend + ["+", "os.debian", "+", "ssh", "--", "cat /etc/hostname"])
        #expect(ssh.out == "debian\n")
        #expect(try Self.domainsGone())
    }

    /// Last: cleanup deletes every volume of the sandbox's on the
    /// hypervisor, also those of entries that left the cache without their
    /// backend being told (as when the daemon was down while they were
    /// forgotten): the sweep finds them by their names. Volumes that are
    /// not this cache's stay.
    @Test func cleanupDeletesTheVolumes() throws {
        let (_, sandbox) = try world()
        _ = try sandbox.succeed(["backend.libvirt", "+", "os.busybox"])
        let owned = Self.ownVolumes(sandbox), before = try Self.poolVolumes()
        #expect(!owned.isEmpty && Set(owned).isSubset(of: before))
        let machines = sandbox.cache.appendingPathComponent("machines")
        try FileManager.default.moveItem(at: machines, to: sandbox.file("machines-gone-untold"))
        let others = ["not-hosts-\(UUID().uuidString.prefix(8))", "host.000000000000.1-1.\(UUID().uuidString.lowercased())-disk.qcow2"]
        for name in others { _ = try LocalHypervisor.virsh(["vol-create-as", "host", name, "1M"]) }
        defer { for name in others { _ = try? LocalHypervisor.virsh(["vol-delete", "--pool", "host", name]) } }
        _ = try sandbox.succeed(["cleanup", "machines", "all"])
        let pool = try Self.poolVolumes()
        let left = Set(owned).intersection(pool)
        #expect(left.isEmpty, "cleanup left volumes: \(left)")
        #expect(Set(others).isSubset(of: pool), "cleanup deleted volumes that are not the cache's")
        _ = try sandbox.succeed(["cleanup", "everything"])
    }
}
