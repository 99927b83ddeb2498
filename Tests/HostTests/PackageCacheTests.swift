import Foundation
import Testing

/// The package cache (apt-cacher-ng from CACHE/packages) is private, starts
/// on a guest's first connection, and stops when idle or when its directory
/// is deleted. Real apt-cacher-ng, real relays, a real busybox VM (the one
/// QemuBackendTests builds: a restore, not a boot); no traffic leaves this
/// computer (the requests are ones apt-cacher-ng answers itself).
@Suite(.serialized) struct PackageCacheTests {
    func sandbox() throws -> Sandbox { try QemuBackendTests.shared.get() }

    /// The apt-cacher-ng processes serving `packages` (their command line names its conf directory).
    static func daemons(of packages: URL) -> [pid_t] {
        let conf = packages.appendingPathComponent("conf").path
        return ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { name -> pid_t? in
            guard let pid = pid_t(name), let data = FileManager.default.contents(atPath: "/proc/\(name)/cmdline") else { return nil }
            let words = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            // A zombie has an empty command line, and is no server.
            return words.first == "/usr/sbin/apt-cacher-ng" && words.contains(conf) ? pid : nil
        }
    }

    /// The TCP ports (v4 and v6) `pid` listens on: its socket inodes, found in /proc/net/tcp*.
    static func listeningPorts(of pid: pid_t) -> [Int] {
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
        let inodes = Set(fds.compactMap { fd -> String? in
            let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)")) ?? ""
            return target.hasPrefix("socket:[") ? String(target.dropFirst(8).dropLast()) : nil
        })
        return ["tcp", "tcp6"].flatMap { table in
            ((try? String(contentsOfFile: "/proc/\(pid)/net/\(table)", encoding: .utf8)) ?? "").split(separator: "\n").dropFirst()
                .compactMap { line -> Int? in
                    let fields = line.split(separator: " ")
                    // local_address is field 1 (ADDR:PORT in hex), st field 3 (0A: LISTEN), inode field 9.
                    guard fields.count > 9, fields[3] == "0A", inodes.contains(String(fields[9])),
                          let port = fields[1].split(separator: ":").last.flatMap({ Int($0, radix: 16) }) else { return nil }
                    return port
                }
        }
    }

    /// Waits up to `seconds` for `condition`; whether it came true.
    func eventually(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while !condition() {
            guard Date() < deadline else { return false }
            usleep(100_000)
        }
        return true
    }

    /// Asks the cache for its own page through the relay, as QEMU's guestfwd does (a socket on standard input and output).
    static func askThroughRelay(_ packages: URL, idle: Int) throws -> Sandbox.Result {
        let relay = packages.appendingPathComponent("bin/relay").path
        return try Sandbox.execute("/usr/bin/timeout", ["20", "/bin/bash", "-c",
            #"(printf 'GET / HTTP/1.0\r\n\r\n'; sleep 1) | socat -t 5 - EXEC:"/bin/bash $1 $2 $3" | head -n 1"#,
            "ask", relay, packages.path, String(idle)])
    }

    @Test func startsOnAGuestsFirstConnectionAndStopsWhenIdle() throws {
        let sandbox = try sandbox()
        let packages = sandbox.cache.appendingPathComponent("packages")
        defer { _ = try? sandbox.run(["cleanup", "downloads"]) }
        // Idle long enough that a loaded machine still finds it running
        // after the guest's last connection, short enough to wait for.
        let on = ["HOST_PACKAGE_CACHE": "on", "HOST_PACKAGE_CACHE_IDLE": "15"]
        // A guest that never asks starts none, though its relay is ready.
        let quiet = try sandbox.run(["os.busybox", "+", "exec", "true"], extraEnvironment: on)
        #expect(quiet.status == 0, "\(quiet.err)")
        #expect(FileManager.default.isExecutableFile(atPath: packages.appendingPathComponent("bin/relay").path))
        #expect(Self.daemons(of: packages).isEmpty)

        // A guest that connects starts it, through QEMU's guestfwd and the relay, and gets its answer.
        let asked = try sandbox.run(["os.busybox", "+", "exec",
                                     #"(printf 'GET / HTTP/1.0\r\n\r\n'; sleep 3) | timeout 30 nc 10.0.2.100 3142 | head -n 1"#], extraEnvironment: on)
        #expect(asked.status == 0 && asked.out.hasPrefix("HTTP/1."), "\(asked.out) \(asked.err)")
        let running = Self.daemons(of: packages)
        #expect(running.count == 1)

        // Private: no TCP port, and a socket in a directory only this user enters.
        for pid in running { #expect(Self.listeningPorts(of: pid) == [], "apt-cacher-ng \(pid) listens on TCP") }
        let run = try FileManager.default.attributesOfItem(atPath: packages.appendingPathComponent("run").path)
        #expect((run[.posixPermissions] as? Int).map { $0 & 0o077 } == 0)
        try Self.asAnotherUser { user in
            // The other user tries the socket and the relay: both refused, nothing answered.
            let socket = try Sandbox.execute("/usr/bin/setpriv", user + ["/usr/bin/socat", "-u", "OPEN:/dev/null",
                                                                          "UNIX-CONNECT:\(packages.appendingPathComponent("run/socket").path)"])
            #expect(socket.status != 0)
            let relay = try Sandbox.execute("/usr/bin/setpriv", user + ["/bin/bash", "-c",
                #"(printf 'GET / HTTP/1.0\r\n\r\n'; sleep 1) | socat -t 3 - EXEC:"/bin/bash $1 $2 3" | head -n 1"#,
                "ask", packages.appendingPathComponent("bin/relay").path, packages.path])
            #expect(!relay.out.hasPrefix("HTTP/"), "\(relay.out)")
        }

        // No connection for 15 s: stopped (the watcher looks every second).
        // (The watcher removes the socket once it has reaped apt-cacher-ng.)
        #expect(eventually(60) { Self.daemons(of: packages).isEmpty
            && !FileManager.default.fileExists(atPath: packages.appendingPathComponent("run/socket").path) })
    }

    @Test func noneOutlivesItsDirectory() throws {
        let sandbox = try sandbox()
        let packages = sandbox.cache.appendingPathComponent("packages")
        defer { _ = try? sandbox.run(["cleanup", "downloads"]) }
        // host makes the relay ready (a run of a guest that never asks); then a connection starts it.
        let quiet = try sandbox.run(["os.busybox", "+", "exec", "true"], extraEnvironment: ["HOST_PACKAGE_CACHE": "on"])
        #expect(quiet.status == 0, "\(quiet.err)")
        let asked = try Self.askThroughRelay(packages, idle: 600)
        #expect(asked.out.hasPrefix("HTTP/1."), "\(asked.out) \(asked.err)")
        #expect(Self.daemons(of: packages).count == 1)
        // A second connection finds it running and starts no other.
        _ = try Self.askThroughRelay(packages, idle: 600)
        #expect(Self.daemons(of: packages).count == 1)

        try FileManager.default.removeItem(at: packages)
        // The watcher looks every 5 s with a 10-minute idle time.
        #expect(eventually(15) { Self.daemons(of: packages).isEmpty })
    }

    /// Runs `body` with setpriv's arguments for a user made for it, removed afterwards.
    static func asAnotherUser(_ body: ([String]) throws -> Void) throws {
        let name = "hostpc\(UInt16.random(in: 1000...65000))"
        let made = try Sandbox.execute("/usr/sbin/useradd", ["--no-create-home", "--shell", "/bin/sh", name])
        try #require(made.status == 0, "useradd failed: \(made.err)")
        defer { _ = try? Sandbox.execute("/usr/sbin/userdel", [name]) }
        let uid = try Sandbox.execute("/usr/bin/id", ["-u", name]).out.trimmingCharacters(in: .whitespacesAndNewlines)
        let gid = try Sandbox.execute("/usr/bin/id", ["-g", name]).out.trimmingCharacters(in: .whitespacesAndNewlines)
        try body(["--reuid=\(uid)", "--regid=\(gid)", "--clear-groups", "--"])
    }
}
