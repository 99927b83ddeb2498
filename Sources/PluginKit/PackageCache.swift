import Foundation

/// The package cache every build shares: Debian's apt-cacher-ng, run for
/// this user on demand from `CACHE/packages`, listening on 127.0.0.1 (for
/// mmdebstrap on the host) and on a Unix socket, which a VM reaches from a
/// fixed guest address through QEMU's `guestfwd=...-cmd:in.acng SOCKET`
/// (a command per connection: nothing else listens). It keeps running
/// after host exits, as a cache should; `host cleanup downloads` stops it
/// and empties it. `HOST_PACKAGE_CACHE=off` turns it off.
public enum PackageCache {
    /// Where guests find it: an address of QEMU's user network.
    public static let guestAddress = "10.0.2.100"
    public static let guestPort = 3142
    public static let daemon = "/usr/sbin/apt-cacher-ng"
    public static let relay = "/usr/lib/apt-cacher-ng/in.acng"

    /// `CACHE/packages`, CACHE as host has it (`$HOST_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/host`, else `~/.cache/host`).
    public static var root: URL {
        let environment = ProcessInfo.processInfo.environment
        if let dir = environment["HOST_CACHE_DIR"], !dir.isEmpty { return URL(fileURLWithPath: dir).appendingPathComponent("packages") }
        let base = environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache")
        return base.appendingPathComponent("host/packages")
    }

    public static var socket: URL { root.appendingPathComponent("run/socket") }
    static var pidFile: URL { root.appendingPathComponent("run/pid") }
    static var portFile: URL { root.appendingPathComponent("run/port") }

    /// For apt in a guest: the cache when this start of the VM forwards it,
    /// else DIRECT (apt's Proxy-Auto-Detect calls it), so a machine saved
    /// with it still installs packages without it.
    public static let aptDetector = "/usr/local/lib/host-package-cache"
    public static let aptDetectorScript = """
        #!/bin/bash
        # host's shared package cache, when backend.qemu forwards it (guestfwd)
        if timeout 2 bash -c 'exec 3<>/dev/tcp/\(guestAddress)/\(guestPort)' 2>/dev/null; then
          echo http://\(guestAddress):\(guestPort)
        else
          echo DIRECT
        fi

        """
    public static let aptConfigFile = "/etc/apt/apt.conf.d/01host-package-cache"
    public static let aptConfig = "Acquire::http::Proxy-Auto-Detect \"\(aptDetector)\";\n"

    /// Containers (podman's bridge cannot reach a loopback proxy) share the
    /// downloaded packages themselves instead: this directory, bind-mounted
    /// where apt keeps them, so a package one container downloaded is
    /// there for the next (apt checks its hash, and locks the directory).
    public static var aptArchives: URL { root.appendingPathComponent("apt-archives") }
    public static let aptArchivesInGuest = "/var/cache/apt/archives"

    /// aptArchives, made when missing (a container made with it is
    /// restored with it, whatever the setting now); nil when the cache is
    /// turned off.
    public static func archivesForContainers() throws -> URL? {
        try FileManager.default.createDirectory(at: aptArchives.appendingPathComponent("partial"), withIntermediateDirectories: true)
        return isTurnedOff ? nil : aptArchives
    }

    public static var isTurnedOff: Bool { ProcessInfo.processInfo.environment["HOST_PACKAGE_CACHE"] == "off" }

    /// Starts the cache unless it runs, and returns its 127.0.0.1 port;
    /// nil (having said why through `log`) when it is turned off or
    /// apt-cacher-ng is not installed: builds then download directly.
    public static func start(log: (String) -> Void) -> Int? {
        guard !isTurnedOff else { return nil }
        guard FileManager.default.isExecutableFile(atPath: daemon), FileManager.default.isExecutableFile(atPath: relay) else {
            log("no package cache: apt-cacher-ng is not installed (Debian package apt-cacher-ng), so packages are downloaded each time")
            return nil
        }
        do {
            return try startLocked()
        } catch {
            log("no package cache: \(error)")
            return nil
        }
    }

    /// The running cache's pid, when there is one.
    public static func runningPid() -> pid_t? {
        guard let text = try? String(contentsOf: pidFile, encoding: .utf8), let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)),
              pid > 0, kill(pid, 0) == 0 else { return nil }
        // A reused pid would not be ours: the daemon's own name says so.
        let name = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? ""
        return name.hasPrefix("apt-cacher-ng") ? pid : nil
    }

    private static func startLocked() throws -> Int {
        let run = root.appendingPathComponent("run")
        for directory in ["run", "conf", "archive", "log"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(directory), withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        }
        // One run starts it; the others wait for that (at most as long as a
        // start may take) and use it.
        let lock = open(run.appendingPathComponent("lock").path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lock >= 0 else { throw StepError("cannot open \(run.path)/lock: \(String(cString: strerror(errno)))") }
        defer { close(lock) }
        let waitUntil = Date().addingTimeInterval(30)
        while flock(lock, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else { throw StepError("cannot lock \(run.path)/lock: \(String(cString: strerror(errno)))") }
            guard Date() < waitUntil else { throw StepError("another run has been starting apt-cacher-ng for 30 s (\(run.path)/lock)") }
            usleep(20_000)
        }
        if runningPid() != nil, let text = try? String(contentsOf: portFile, encoding: .utf8), let port = Int(text) { return port }

        let port = try freePort()
        let conf = root.appendingPathComponent("conf")
        // No Remap rules: requests go to the host the client named, and are
        // cached under it.
        try """
            CacheDir: \(root.appendingPathComponent("archive").path)
            LogDir: \(root.appendingPathComponent("log").path)
            SocketPath: \(socket.path)
            PidFile: \(pidFile.path)
            BindAddress: 127.0.0.1
            Port: \(port)
            ExThreshold: 4
            """.write(to: conf.appendingPathComponent("acng.conf"), atomically: true, encoding: .utf8)
        try? FileManager.default.removeItem(at: socket)
        try? FileManager.default.removeItem(at: pidFile)
        // It puts itself in the background; the parent's exit says it is set up.
        var start = Command(daemon, ["-c", conf.path])
        start.timeLimit = 10
        let ending = try start.run()
        guard ending == .exited(0) else { throw StepError("apt-cacher-ng did not start (\(ending)); see \(root.path)/log") }
        let deadline = Date().addingTimeInterval(10)
        while runningPid() == nil || !FileManager.default.fileExists(atPath: socket.path) {
            guard Date() < deadline else { throw StepError("apt-cacher-ng did not open \(socket.path) within 10 s; see \(root.path)/log") }
            usleep(20_000)
        }
        try String(port).write(to: portFile, atomically: true, encoding: .utf8)
        return port
    }

    /// A port on 127.0.0.1 nothing listens on now, below 32768:
    /// apt-cacher-ng 3.7 cannot bind one above ("Error resolving address
    /// for binding").
    private static func freePort() throws -> Int {
        for _ in 0..<100 {
            let port = Int.random(in: 20000..<32768)
            let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw StepError("cannot make a socket: \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(port).bigEndian
            let bound = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
            if bound { return port }
        }
        throw StepError("cannot find a free port on 127.0.0.1 between 20000 and 32767")
    }
}
