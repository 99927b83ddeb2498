import ChildProcess
import Foundation
import Testing

/// One test's world: its own plugin directory, cache and HOME, and the real
/// `host` binary from this build, run as a user would run it.
final class Sandbox: @unchecked Sendable {
    struct Result {
        let status: Int32
        let out: String
        let err: String
    }

    let root: URL
    var plugins: URL { root.appendingPathComponent("plugins") }
    var cache: URL { root.appendingPathComponent("cache") }

    /// The build's products: the test bundle sits next to `host` and the plugins.
    static let products = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let standardPlugins = ["backend_fixture", "exec", "self_test"]

    /// The backend a pipeline starts on when its first step is not one.
    let defaultBackend: String

    init(plugins names: [String] = Sandbox.standardPlugins, defaultBackend: String = "backend.fixture") throws {
        self.defaultBackend = defaultBackend
        root = FileManager.default.temporaryDirectory.appendingPathComponent("host-test-\(UUID().uuidString)")
        for dir in ["plugins", "cache", "home"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(dir), withIntermediateDirectories: true)
        }
        for name in names { try addBuiltPlugin(name) }
    }

    deinit { dispose() }

    /// Removes the sandbox, after `host cleanup everything` has let the
    /// backends release what they keep outside it (podman images, libvirt volumes).
    func dispose() {
        // Named machines (`host up --name`) outlive every run: end them first.
        let named = cache.appendingPathComponent("named")
        for file in (try? FileManager.default.contentsOfDirectory(atPath: named.path)) ?? [] where file.hasSuffix(".json") && !file.hasPrefix(".") {
            _ = try? run(["rm", "--force", String(file.dropLast(5))])
        }
        if ["backend_podman-criu.so", "backend_libvirt.so"].contains(where: { FileManager.default.fileExists(atPath: plugins.appendingPathComponent($0).path) }) {
            _ = try? run(["cleanup", "everything"])
        }
        try? FileManager.default.removeItem(at: root)
    }

    /// Copies (not links) a plugin built by this package, so a test may change the file.
    func addBuiltPlugin(_ name: String) throws {
        try FileManager.default.copyItem(at: Self.products.appendingPathComponent("lib\(name).so"),
                                         to: plugins.appendingPathComponent("\(name).so"))
    }

    /// Compiles a C plugin with cc and nothing but host_plugin.h: this
    /// build's, or the one in `include` (an older ABI's, kept as a fixture).
    @discardableResult
    /// `strict`: -Wextra -Werror too, as plugin authors are told to build.
    func compileC(_ source: URL, as name: String, defines: [String] = [], strict: Bool = false,
                  include: String = Sandbox.repository.appendingPathComponent("Sources/PluginABI/include").path) throws -> URL {
        let output = plugins.appendingPathComponent("\(name).so")
        let result = try Self.execute("/usr/bin/cc", ["-std=c11", "-Wall", "-shared", "-fPIC", "-I", include]
                                      + (strict ? ["-Wextra", "-Werror"] : [])
                                      + defines + ["-o", output.path, source.path])
        #expect(result.status == 0, "cc failed: \(result.err)")
        return output
    }

    var environment: [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["HOST_PLUGIN_PATH"] = plugins.path
        env["HOST_CACHE_DIR"] = cache.path
        env["HOME"] = root.appendingPathComponent("home").path
        env["HOST_DEFAULT_BACKEND"] = defaultBackend
        env["XDG_RUNTIME_DIR"] = root.path // transient machines, removed with the sandbox
        // The shared package cache is a daemon that outlives a run (until
        // it is idle): only the tests of it start it, and stop it.
        env["HOST_PACKAGE_CACHE"] = "off"
        return env
    }

    /// `directory`: the working directory host runs in (relative paths).
    func run(_ arguments: [String], extraEnvironment: [String: String] = [:], in directory: URL? = nil) throws -> Result {
        try Self.execute(Self.products.appendingPathComponent("host").path, arguments,
                         environment: environment.merging(extraEnvironment) { $1 }, in: directory)
    }

    /// host in a shell pipeline (`host ARGS | TAIL`): the status is host's.
    func piped(_ arguments: [String], into tail: String) throws -> Result {
        let host = ([Self.products.appendingPathComponent("host").path] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        return try Self.execute("/bin/bash", ["-c", host.joined(separator: " ") + " | " + tail + "; exit ${PIPESTATUS[0]}"], environment: environment)
    }

    /// Starts host without waiting, for concurrency and crash tests; its
    /// standard output and error go to `output` and `errors` when given.
    func start(_ arguments: [String], output: URL? = nil, errors: URL? = nil) throws -> HostRun {
        var command = Command(Self.products.appendingPathComponent("host").path, arguments, environment: environment)
        command.output = output.map { .file($0.path) } ?? .null
        command.error = errors.map { .file($0.path) } ?? .null
        return HostRun(try command.start())
    }

    /// Runs host on a real pseudo-terminal through Tests/Fixtures/pty_driver.py,
    /// which waits for texts and types keys as the script says (["expect",
    /// TEXT], ["send", TEXT], ["kill", NAME]); returns host's exit status
    /// and everything the terminal showed.
    func onTerminal(_ script: [[String]], _ arguments: [String]) throws -> (status: Int32?, screen: String) {
        let driver = Self.repository.appendingPathComponent("Tests/Fixtures/pty_driver.py").path
        let json = String(decoding: try JSONSerialization.data(withJSONObject: script), as: UTF8.self)
        let session = try Self.execute("/usr/bin/env", ["python3", driver, json, Self.products.appendingPathComponent("host").path] + arguments,
                                       environment: environment)
        let status = session.out.split(separator: "\n").first { $0.hasPrefix("exit ") }.flatMap { Int32($0.dropFirst(5)) }
        return (session.status == 0 ? status : nil, session.out + session.err)
    }

    /// `PIPELINE + console` on a real terminal: waits for the console, types
    /// a command, reads its answer and detaches with Ctrl-].
    func consoleSession(_ pipeline: [String]) throws -> (status: Int32?, screen: String) {
        try onTerminal([["expect", "press Ctrl-] to detach"], ["send", "echo console-$((40+2))\r"], ["expect", "console-42"],
                        ["send", "\u{1d}"], ["expect", "detached from the console"]], pipeline + ["+", "console"])
    }

    /// Saves a step on `os`, waits until its snapshot is 6 s old, restores
    /// it and asks the guest the time: with the host's before and after
    /// that run, in seconds since 1970.
    func clockAfterRestore(of os: String) throws -> (guest: Double, before: Double, after: Double) {
        let saved = [os, "+", "exec", "echo saved at $(date +%s) > /root/saved"]
        _ = try succeed(saved + ["+", "exec", "true"])
        Thread.sleep(forTimeInterval: 6)
        let before = Date().timeIntervalSince1970
        let run = try succeed(saved + ["+", "exec", "date +%s"])
        let after = Date().timeIntervalSince1970
        #expect(run.err.contains("exec: cached"))
        return (try #require(Double(run.out.trimmingCharacters(in: .whitespacesAndNewlines))), before, after)
    }

    /// Output goes to files, so a chatty child can never fill a pipe and hang.
    static func execute(_ path: String, _ arguments: [String], environment: [String: String]? = nil, in directory: URL? = nil) throws -> Result {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("out-\(UUID().uuidString)")
        let err = out.appendingPathExtension("err")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: out); try? FileManager.default.removeItem(at: err) }
        var command = Command(path, arguments, environment: environment)
        command.directory = directory?.path
        command.output = .file(out.path)
        command.error = .file(err.path)
        let ending = try command.run()
        return Result(status: ending.status,
                      out: try String(contentsOf: out, encoding: .utf8),
                      err: try String(contentsOf: err, encoding: .utf8))
    }

    /// Lines a self_test.count --record file holds: one per real run.
    func runs(_ record: URL) -> Int {
        ((try? String(contentsOf: record, encoding: .utf8)) ?? "").split(separator: "\n").count
    }

    func file(_ name: String) -> URL { root.appendingPathComponent(name) }

    /// Every published file in the cache with its content, to prove a failed
    /// run changed nothing. Temporary and trash directories are not the cache.
    func cacheSnapshot() throws -> [String: Data] {
        let machines = cache.appendingPathComponent("machines")
        var snapshot: [String: Data] = [:]
        guard let walker = FileManager.default.enumerator(atPath: machines.path) else { return snapshot }
        while let relative = walker.nextObject() as? String {
            if relative.hasPrefix(".tmp") || relative.hasPrefix(".trash") { continue }
            let url = machines.appendingPathComponent(relative)
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory)
            snapshot[relative] = isDirectory.boolValue ? Data() : try Data(contentsOf: url)
        }
        return snapshot
    }

    /// One sandbox for a whole suite of VM tests, so each guest is built
    /// once per test run; removed when the test process exits.
    static func shared(plugins: [String]) -> Swift.Result<Sandbox, any Error> {
        Swift.Result {
            let sandbox = try Sandbox(plugins: plugins, defaultBackend: "backend.qemu")
            sharedLock.lock()
            sharedSandboxes.append(sandbox)
            sharedLock.unlock()
            atexit {
                for sandbox in Sandbox.sharedSandboxes { sandbox.dispose() }
            }
            return sandbox
        }
    }
    nonisolated(unsafe) static var sharedSandboxes: [Sandbox] = []
    static let sharedLock = NSLock()

    /// Runs and requires success, showing host's messages when it fails.
    func succeed(_ arguments: [String]) throws -> Result {
        let result = try run(arguments)
        #expect(result.status == 0, "host \(arguments.joined(separator: " ")) failed: \(result.err)")
        return result
    }

    /// The directory of the entry a `--json` run reported building last for `step`.
    func builtEntry(_ result: Result, step: String) throws -> URL {
        let entry = result.facts.last { $0.event == .built && $0.step == step }?.entry
        return URL(fileURLWithPath: try #require(entry, "no entry built for \(step): \(result.err)"))
    }

    func temporaryLeftovers() -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: cache.appendingPathComponent("machines/.tmp").path)) ?? []
    }
}
