import Foundation
import PluginKit

/// The package cache every build shares: Debian's apt-cacher-ng, run for
/// this user from `CACHE/packages`, private to them. It listens on no TCP
/// port, only on a Unix socket in a 0700 directory; every client reaches it
/// through a relay (bin/relay) that starts it under a lock when none runs:
/// a VM through QEMU's `guestfwd=...-cmd:RELAY` (a command per connection
/// from a fixed guest address), mmdebstrap through socat on 127.0.0.1 in a
/// network namespace of its own. So a run whose guest never uses apt
/// starts none. A watcher stops it once no connection has been open for
/// `idleSeconds`, and when its directory is deleted. `host cleanup
/// downloads` stops it and empties it. `HOST_PACKAGE_CACHE=off` turns it off.
public enum PackageCache {
    /// Where guests find it: an address of QEMU's user network.
    public static let guestAddress = "10.0.2.100"
    public static let guestPort = 3142
    public static let daemon = "/usr/sbin/apt-cacher-ng"

    /// `CACHE/packages`, CACHE as host has it (`$HOST_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/host`, else `~/.cache/host`).
    public static var root: URL { SharedRules.cacheRoot().appendingPathComponent("packages") }

    public static var socket: URL { root.appendingPathComponent("run/socket") }
    static var pidFile: URL { root.appendingPathComponent("run/pid") }

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

    /// Seconds with no connection open after which apt-cacher-ng stops:
    /// `HOST_PACKAGE_CACHE_IDLE` (tests set a few), else 10 minutes.
    public static var idleSeconds: Int {
        ProcessInfo.processInfo.environment["HOST_PACKAGE_CACHE_IDLE"].flatMap { Int($0) }.map { max(1, $0) } ?? 600
    }

    /// What relays one connection to the cache, starting apt-cacher-ng
    /// first when none runs for this directory: QEMU's guestfwd runs it
    /// per guest connection (its standard input and output are the
    /// connection). Writing it starts nothing, so a machine whose guest
    /// never uses apt costs no apt-cacher-ng. nil, having said why through
    /// `log`, when the cache is turned off or a tool it needs is missing:
    /// builds then download directly.
    public static func relayCommand(log: (String) -> Void) -> [String]? {
        guard !isTurnedOff else { return nil }
        do {
            try prepare()
            return ["/bin/bash", root.appendingPathComponent("bin/relay").path, root.path, String(idleSeconds)]
        } catch {
            log("no package cache: \(error)")
            return nil
        }
    }

    /// mmdebstrap with `arguments` through the cache: in a network
    /// namespace of its own, where apt's proxy 127.0.0.1:3142 is socat
    /// handing each connection to the relay. Nothing listens where another
    /// user could connect (entering the namespace takes root). nil, having
    /// said why through `log`, when it is turned off, a tool is missing,
    /// host does not run as root (a network namespace of its own needs
    /// CAP_SYS_ADMIN, and mmdebstrap in a user namespace could not map the
    /// users a root filesystem owns), or the mirror is not plain http (the
    /// namespace has no other way out).
    public static func mmdebstrap(_ arguments: [String], mirror: String, log: (String) -> Void) -> (executable: String, arguments: [String])? {
        guard !isTurnedOff else { return nil }
        guard mirror.isEmpty || mirror.hasPrefix("http://") else {
            log("no package cache: it proxies http:// mirrors only, and the mirror is \(mirror)")
            return nil
        }
        guard getuid() == 0 else {
            log("no package cache for mmdebstrap: its private network namespace needs root; packages are downloaded directly")
            return nil
        }
        do {
            _ = try HostTool.path("unshare", package: "util-linux")
            _ = try HostTool.path("socat", package: "socat")
            _ = try HostTool.path("ip", package: "iproute2")
            let mmdebstrap = try HostTool.path("mmdebstrap", package: "mmdebstrap")
            try prepare()
            return ("/bin/bash", ["-c", namespaceScript, "host-package-cache", root.appendingPathComponent("bin").path, root.path,
                                  String(idleSeconds), mmdebstrap] + arguments + ["--aptopt=Acquire::http::Proxy \"http://127.0.0.1:\(guestPort)\""])
        } catch {
            log("no package cache: \(error)")
            return nil
        }
    }

    /// The running cache's pid, when there is one.
    public static func runningPid() -> pid_t? { SharedRules.runningPid(in: pidFile, program: "apt-cacher-ng") }

    /// Makes the directories (0700: the socket in run/ is reachable by this
    /// user only), apt-cacher-ng's configuration and the two scripts,
    /// rewriting a file only when it differs (runs share them).
    private static func prepare() throws {
        for tool in [daemon, inetdBridge] where !FileManager.default.isExecutableFile(atPath: tool) {
            throw StepError("\(tool) is missing; install the Debian package apt-cacher-ng (apt-get install apt-cacher-ng)")
        }
        _ = try HostTool.path("flock", package: "util-linux")
        _ = try HostTool.path("setpriv", package: "util-linux")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        for directory in ["run", "conf", "archive", "log", "bin"] {
            let url = root.appendingPathComponent(directory)
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: url.path) // one made by an older host
        }
        // No Remap rules: requests go to the host the client named, and are
        // cached under it. No TCP: apt-cacher-ng 3.7 ignores its documented
        // `Port: 0` (it listened on *:3142), but binds nothing when
        // BindAddress names no address ("Error resolving address for
        // binding") and still serves its socket. Whatever the version does,
        // PackageCacheTests checks that it listens on no TCP port.
        try update(root.appendingPathComponent("conf/acng.conf"), """
            CacheDir: \(root.appendingPathComponent("archive").path)
            LogDir: \(root.appendingPathComponent("log").path)
            SocketPath: \(socket.path)
            Port: 0
            BindAddress: \(root.appendingPathComponent("run/no-tcp").path)
            ExThreshold: 4

            """)
        try update(root.appendingPathComponent("bin/relay"), relayScript, executable: true)
        try update(root.appendingPathComponent("bin/watcher"), watcherScript, executable: true)
    }

    private static func update(_ file: URL, _ text: String, executable: Bool = false) throws {
        if (try? String(contentsOf: file, encoding: .utf8)) != text {
            try text.write(to: file, atomically: true, encoding: .utf8)
        }
        if executable { try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: file.path) }
    }

    static let inetdBridge = "/usr/lib/apt-cacher-ng/in.acng"

    /// One connection (bin/relay ROOT IDLE, or from the environment when
    /// socat runs it). in.acng, apt-cacher-ng's own bridge, needs its
    /// standard input to be a socket: QEMU's guestfwd and socat give one.
    /// A shell and in.acng per connection (and flock); the start only
    /// when apt-cacher-ng is not running.
    static let relayScript = #"""
        #!/bin/bash
        # host's package cache: relays one connection (standard input and
        # output) to apt-cacher-ng's socket, starting it (with its watcher)
        # when none runs for this directory.
        #   relay [--start] ROOT IDLE   (--start: only start it, relay nothing)
        # socat in mmdebstrap's network namespace runs it with no arguments
        # (ROOT from the environment) and HOST_PACKAGE_CACHE_NO_START set:
        # started there, apt-cacher-ng could not reach any mirror.
        set -u
        start_only=; [ "${1-}" = --start ] && { start_only=1; shift; }
        root=${1:-${HOST_PACKAGE_CACHE_ROOT:?}} idle=${2:-${HOST_PACKAGE_CACHE_IDLE:-600}}
        run=$root/run
        say() { echo "host package cache: $*" >&2; }
        # Held shared for as long as the connection is open (in.acng inherits
        # fd 8): the watcher stops apt-cacher-ng only when it can take it
        # exclusively, and a relay never sees it half stopped.
        exec 8>>"$run/connections" || exit 1
        flock -s -w 30 8 || { say "the watcher held $run/connections for 30 s"; exit 1; }
        printf %s "$EPOCHSECONDS" >"$run/used"
        running() {
            local pid args
            read -r pid 2>/dev/null <"$run/pid" && [ -S "$run/socket" ] || return 1
            # The pid is this directory's apt-cacher-ng, not a reused one.
            mapfile -d '' -t args 2>/dev/null <"/proc/$pid/cmdline" || return 1
            [ "${args[0]-}" = \#(daemon) ] && [ "${args[2]-}" = "$root/conf" ]
        }
        if ! running && [ -n "${HOST_PACKAGE_CACHE_NO_START-}" ]; then
            say "apt-cacher-ng is not running, and this relay in a network namespace may not start it"; exit 1
        fi
        if ! running; then
            exec 9>>"$run/lock"
            flock -w 30 9 || { say "another start has held $run/lock for 30 s"; exit 1; }
            if ! running; then
                rm -f "$run/socket" "$run/pid"
                # Its own session, and none of the connection's descriptors or locks.
                setsid /bin/bash "$root/bin/watcher" "$root" "$idle" </dev/null >>"$root/log/watcher.log" 2>&1 8>&- 9>&- &
                deadline=$((EPOCHSECONDS + 10))
                until running; do
                    [ "$EPOCHSECONDS" -le "$deadline" ] || { say "apt-cacher-ng did not open $run/socket within 10 s; see $root/log"; exit 1; }
                    sleep 0.05
                done
            fi
            exec 9>&-
        fi
        [ -z "$start_only" ] || exit 0
        # Not exec'd: the connection's end is a use too, and idle counts from it.
        \#(inetdBridge) "$run/socket"
        status=$?
        printf %s "$EPOCHSECONDS" >"$run/used"
        exit "$status"

        """#

    /// Runs apt-cacher-ng in the foreground, as its child, so that it knows
    /// when it ended; stops it when idle or when its directory is gone.
    /// Polls (a sleep, and a flock only near the idle time): a few
    /// processes every few seconds while the cache runs.
    static let watcherScript = #"""
        #!/bin/bash
        # host's package cache: runs apt-cacher-ng for ROOT until no
        # connection has been open for IDLE seconds, or until ROOT is deleted
        # or replaced: none outlives its cache directory.
        #   watcher ROOT IDLE
        set -u
        root=$1 idle=$2 run=$1/run
        # Only descriptors of its own: an inherited one (a socket or pipe of
        # whoever ran the relay) would stay open as long as the cache runs,
        # and whoever waits for its end would wait that long.
        for fd in /proc/$$/fd/*; do fd=${fd##*/}; ((fd > 2 && fd != 255)) && eval "exec $fd>&-"; done
        exec 7<"$root" || exit 1 # this directory, told apart from a new one at the same path
        exec 8>>"$run/connections" || exit 1
        ours() { [ "$root" -ef "/proc/$$/fd/7" ]; }
        # It dies with this watcher, even by SIGKILL: none runs unwatched
        # (KILL: a TERM it inherited blocked would not end it).
        setpriv --pdeathsig KILL \#(daemon) -c "$root/conf" ForeGround=1 </dev/null 7<&- 8>&- &
        daemon=$!
        printf '%s\n' "$daemon" >"$run/pid.new" && mv -f "$run/pid.new" "$run/pid"
        echo "$(date -Is) started apt-cacher-ng $daemon (stops after ${idle} s idle)"
        # A zombie still answers kill -0.
        alive() { local state; read -r _ _ state _ 2>/dev/null <"/proc/$daemon/stat" && [ "$state" != Z ]; }
        stop() {
            echo "$(date -Is) stopping apt-cacher-ng $daemon: $1"
            kill -TERM "$daemon" 2>/dev/null
            for _ in {1..50}; do alive || break; sleep 0.1; done
            kill -KILL "$daemon" 2>/dev/null
            wait "$daemon" 2>/dev/null
            if ours; then rm -f "$run/socket" "$run/pid"; fi
            exit 0
        }
        trap 'stop "signalled"' TERM INT HUP
        interval=$((idle / 10)); ((interval < 1)) && interval=1; ((interval > 5)) && interval=5
        busy=$EPOCHSECONDS
        while sleep "$interval"; do
            if ! alive; then
                wait "$daemon"
                echo "$(date -Is) apt-cacher-ng $daemon ended (status $?)"
                if ours; then rm -f "$run/socket" "$run/pid"; fi
                exit 0
            fi
            ours || stop "$root was deleted"
            read -r used 2>/dev/null <"$run/used" && ((used > busy)) && busy=$used
            ((EPOCHSECONDS - busy >= idle)) || continue
            # Exclusively only when no relay holds it shared: no connection is open.
            flock -n -x 8 && stop "no connection for ${idle} s"
            busy=$EPOCHSECONDS
        done

        """#

    /// mmdebstrap through the cache: $1 the cache's bin directory, $2 its
    /// directory, $3 the idle time, then mmdebstrap and its arguments. The
    /// cache is started here, outside the namespace (inside, it could reach
    /// no mirror), and mmdebstrap counts as one connection for as long as
    /// it runs, so the cache cannot stop under it. Inside: lo up, socat on
    /// 127.0.0.1 handing each connection to the relay (run from the bin
    /// directory: a path in socat's address would have to escape its ':'
    /// and ','); socat dies with mmdebstrap, and the namespace with it.
    static let namespaceScript = #"""
        set -eu
        bin=$1 root=$2 idle=$3; shift 3
        exec 8>>"$root/run/connections"
        flock -s -w 30 8 || { echo "host package cache: the watcher held $root/run/connections for 30 s" >&2; exit 1; }
        "$bin/relay" --start "$root" "$idle" 8>&-
        inside='
            set -eu
            ip link set lo up
            (cd "$HOST_PACKAGE_CACHE_BIN" && exec setpriv --pdeathsig KILL socat TCP-LISTEN:\#(guestPort),bind=127.0.0.1,reuseaddr,fork EXEC:./relay,nofork) </dev/null &
            deadline=$((EPOCHSECONDS + 10))
            until grep -q ": 0100007F:\#(String(format: "%04X", guestPort)) 00000000:0000 0A" /proc/net/tcp; do
                [ "$EPOCHSECONDS" -le "$deadline" ] || { echo "host package cache: socat did not listen on 127.0.0.1:\#(guestPort) within 10 s" >&2; exit 1; }
                sleep 0.05
            done
            exec "$@"'
        export HOST_PACKAGE_CACHE_BIN=$bin HOST_PACKAGE_CACHE_ROOT=$root HOST_PACKAGE_CACHE_IDLE=$idle HOST_PACKAGE_CACHE_NO_START=1
        # Not exec'd: this shell holds the lock until mmdebstrap ends, and
        # takes the namespace down with it if it is killed.
        setpriv --pdeathsig KILL unshare --net --kill-child -- /bin/bash -c "$inside" host-package-cache "$@" 8>&- &
        child=$!
        trap 'kill -KILL "$child" 2>/dev/null' TERM INT HUP
        wait "$child"
        """#
}
