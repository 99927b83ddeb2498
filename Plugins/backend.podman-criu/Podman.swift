import Foundation
import PluginKit
import PluginSupport

/// The podman command line as this host needs it. The flags are detected,
/// not assumed: the OCI runtime that can start a container here, ulimits the
/// sandbox allows (podman raises them by default, which fails without
/// CAP_SYS_RESOURCE), the cgroup manager (cgroupfs where systemd is not
/// running), and a CRIU that passes `criu check`. Detected once per boot of
/// the host and kept in the user's runtime directory (CRIU looked for again
/// while none was found).
struct Podman: Codable {
    let executable: String
    /// Before the subcommand: --cgroup-manager.
    let globalFlags: [String]
    /// For `podman run`: --runtime, --ulimit.
    let runFlags: [String]
    /// The directory of a working criu, first on PATH for podman; nil: no CRIU.
    let criuDirectory: String?
    let criuProblem: String?

    var canCheckpoint: Bool { criuDirectory != nil }

    /// The OCI runtime containers run under (runc, crun): a checkpoint
    /// restores only under the one that made it.
    var runtime: String? { runFlags.firstIndex(of: "--runtime").flatMap { runFlags.indices.contains($0 + 1) ? runFlags[$0 + 1] : nil } }

    /// "3.19" from `criu --version`: CRIU restores its own images and older
    /// ones, not a newer CRIU's.
    func criuVersion() -> String? {
        guard let criuDirectory, let text = try? HostTool.run(criuDirectory + "/criu", ["--version"], package: "criu"),
              let range = text.range(of: "Version: ") else { return nil }
        return String(text[range.upperBound...].prefix { $0.isNumber || $0 == "." })
    }

    /// The test image the runtime probe starts: busybox alone.
    static let probeImage = "localhost/host-probe:1"

    static func detect() throws -> Podman {
        let executable = try HostTool.path("podman", package: "podman")
        let override = ProcessInfo.processInfo.environment["HOST_CRIU"] ?? ""
        let memo = RuntimeDirectory.private()?.appendingPathComponent(
            "podman-\(RuntimeDirectory.bootID)-\(override.filter { $0.isLetter || $0.isNumber }).json")
        if let memo, let data = FileManager.default.contents(atPath: memo.path),
           let known = try? JSONDecoder().decode(Podman.self, from: data), known.executable == executable {
            guard known.criuDirectory == nil else { return known }
            // No CRIU last time: look again (scripts/install-criu may have run since).
            let criu = CRIU.find(override: override)
            return Podman(executable: known.executable, globalFlags: known.globalFlags, runFlags: known.runFlags,
                          criuDirectory: criu.directory, criuProblem: criu.problem)
        }
        let detected = try probe(executable, criuOverride: override)
        if let memo, let data = try? JSONEncoder().encode(detected) { try? data.write(to: memo) }
        return detected
    }

    private static func probe(_ executable: String, criuOverride: String) throws -> Podman {
        let globalFlags = FileManager.default.fileExists(atPath: "/run/systemd/system") ? [] : ["--cgroup-manager", "cgroupfs"]
        let info = try Self.command(executable, globalFlags + ["info", "--format", "{{.Host.OCIRuntime.Name}}"])
        guard info.status == 0 else {
            throw StepError("podman cannot run here: \(info.errorText.trimmingCharacters(in: .whitespacesAndNewlines)) "
                                + "(as a user other than root, podman needs the Debian packages uidmap and slirp4netns and entries in /etc/subuid and /etc/subgid)")
        }
        // podman raises ulimits by default, which a sandbox without
        // CAP_SYS_RESOURCE refuses; then this process's own limits, then
        // modest ones, until a container starts.
        var own: [String] = [], modest: [String] = []
        for (name, resource, cap) in [("nofile", RLIMIT_NOFILE, rlim_t(1024)), ("nproc", __RLIMIT_NPROC, rlim_t(4096))] {
            var limit = rlimit()
            // RLIM_INFINITY is all ones.
            guard getrlimit(__rlimit_resource_t(resource.rawValue), &limit) == 0 else { continue }
            let hard = limit.rlim_max == rlim_t.max ? cap : limit.rlim_max
            own += ["--ulimit", "\(name)=\(min(limit.rlim_cur, hard)):\(hard)"]
            modest += ["--ulimit", "\(name)=\(min(hard, cap)):\(min(hard, cap))"]
        }
        try makeProbeImage(executable, globalFlags)
        // podman's own choice first, then the others Debian packages.
        var runtimes: [String] = []
        for runtime in [info.text, "runc", "crun"] where !runtime.isEmpty && !runtimes.contains(runtime) { runtimes.append(runtime) }
        var failures: [String] = []
        var chosen: [String]?
        for runtime in runtimes {
            for limits in [[], own, modest] {
                let run = try command(executable, globalFlags + ["run", "--rm", "--runtime", runtime] + limits + [probeImage, "/bin/busybox", "true"])
                if run.status == 0 { chosen = ["--runtime", runtime] + limits; break }
                failures.append("\(runtime): \(run.errorText.trimmingCharacters(in: .whitespacesAndNewlines).suffix(200))")
            }
            if chosen != nil { break }
        }
        guard let chosen else {
            throw StepError("podman cannot start a container with any OCI runtime here (\(failures.joined(separator: "; "))); install the Debian package runc (the test container needs a static /bin/busybox: busybox-static)")
        }
        let criu = CRIU.find(override: criuOverride)
        return Podman(executable: executable, globalFlags: globalFlags, runFlags: chosen,
                      criuDirectory: criu.directory, criuProblem: criu.problem)
    }

    /// busybox in an image of its own, for the runtime probe.
    private static func makeProbeImage(_ executable: String, _ globalFlags: [String]) throws {
        if try command(executable, globalFlags + ["image", "exists", probeImage]).status == 0 { return }
        let busybox = try HostTool.path("busybox", package: "busybox-static")
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("host-probe-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: work) }
        try FileManager.default.createDirectory(at: work.appendingPathComponent("root/bin"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: busybox, toPath: work.appendingPathComponent("root/bin/busybox").path)
        try HostTool.run("tar", ["-C", work.appendingPathComponent("root").path, "-cf", work.appendingPathComponent("root.tar").path, "."], package: "tar")
        let imported = try command(executable, globalFlags + ["import", "--quiet"] + PodmanSweep.importMarks(cache: false)
                                   + [work.appendingPathComponent("root.tar").path, probeImage])
        guard imported.status == 0 else { throw StepError("podman import failed: \(imported.errorText)") }
    }

    struct Output {
        let status: Int32
        let output: [UInt8]
        let errorText: String
        var text: String { String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) }
    }

    /// Output goes to files and host waits for podman itself: `podman run
    /// --detach` and `podman container restore` leave conmon holding their
    /// descriptors, so waiting for a pipe to close would wait for the container.
    private static func command(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                                started: (pid_t) -> Void = { _ in }) throws -> Output {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("host-podman-\(UUID().uuidString)")
        let err = out.appendingPathExtension("err")
        defer { try? FileManager.default.removeItem(at: out); try? FileManager.default.removeItem(at: err) }
        var command = Command(executable, arguments, environment: environment)
        command.output = .file(out.path)
        command.error = .file(err.path)
        let child = try command.start()
        started(child.pid)
        return Output(status: child.wait().status, output: Array((try? Data(contentsOf: out)) ?? Data()),
                      errorText: String(decoding: (try? Data(contentsOf: err)) ?? Data(), as: UTF8.self))
    }

    /// podman's environment: the working criu first on PATH.
    var environment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        if let criuDirectory { environment["PATH"] = criuDirectory + ":" + (environment["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin") }
        return environment
    }

    /// Runs `podman ARGUMENTS`; returns standard output. `started` learns
    /// podman's process ID as soon as it runs.
    @discardableResult
    func run(_ arguments: [String], started: (pid_t) -> Void = { _ in }) throws -> String {
        let result = try Self.command(executable, globalFlags + arguments, environment: environment, started: started)
        guard result.status == 0 else {
            throw StepError("podman \(arguments.prefix(2).joined(separator: " ")) failed: \(result.errorText.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return result.text
    }

    func succeeds(_ arguments: [String]) -> Bool {
        ((try? Self.command(executable, globalFlags + arguments, environment: environment))?.status ?? 1) == 0
    }

    /// Streams a command's output, for exec.
    func stream(_ arguments: [String], output: (Int32, [UInt8]) -> Void) throws -> Int32 {
        var command = Command(executable, globalFlags + arguments, environment: environment)
        command.output = .pipe
        command.error = .pipe
        return try command.run(output).status
    }
}
