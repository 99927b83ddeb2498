import Foundation
import PluginKit

/// QEMU's guest agent (qemu-guest-agent in the guest), reached over its
/// virtio-serial port however the backend connects to it (AgentChannel):
/// commands with no key exchange, so a restored guest answers in milliseconds.
///
/// The agent returns a command's output only when it ends, so output takes
/// two further ports, host.stdout and host.stderr, that a small wrapper in
/// the guest relays the command's streams to as they come, each ended by a
/// random marker once the command and everything that held its output have
/// closed it (as an SSH session ends). The agent starts the wrapper and
/// reports its status, which is the command's.
public final class GuestAgent {
    /// The ports a machine with the agent has: the agent's, then the command's
    /// standard output and error.
    public static let ports = [(name: "org.qemu.guest_agent.0", socket: "qga.sock")]
        + zip(OutputPorts.names, ["stdout.sock", "stderr.sock"]).map { (name: $0, socket: $1) }

    /// The most input a command takes through the agent: the request
    /// carries it as base64, and QEMU's JSON parser takes tokens up to 64 MiB.
    public static let inputLimit = 16 << 20

    private let channel: AgentChannel
    private let ports: OutputPorts

    public init(channel: AgentChannel, stdout: ByteChannel, stderr: ByteChannel) {
        self.channel = channel
        ports = OutputPorts(stdout: stdout, stderr: stderr)
    }

    public func answers(timeoutMs: Int64) -> Bool { channel.answers(timeoutMs: timeoutMs) }

    /// Runs `command` as `user`, with their login shell in their home (as
    /// sshd would), streaming its standard output and error apart; returns
    /// its exit status (128+N when killed by signal N). `input`, when given,
    /// is its standard input: it travels inside the request (so at most
    /// `inputLimit` bytes), which spares an upload SSH's key exchange.
    /// (guest-set-time is not used for the clock: it waits for the hardware
    /// clock's next second.)
    /// `asRoot`, when given, runs first as root whoever the user is (setting
    /// a restored guest's clock).
    public func run(_ command: String, user: String, asRoot: String? = nil, input: Data? = nil,
                    output: (Int32, [UInt8]) -> Void) throws -> Int32 {
        let marker = Array("HOST-END-\(UInt64.random(in: 0...UInt64.max))-\(UInt64.random(in: 0...UInt64.max))".utf8)
        var request: [String: Any] = [
            "path": "/bin/sh",
            "arg": ["-c", Self.wrapper, "host-exec", command, String(decoding: marker, as: UTF8.self), user,
                    input == nil ? "/dev/null" : "/dev/stdin", asRoot ?? ""],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"],
        ]
        if let input { request["input-data"] = input.base64EncodedString() }
        let started = try channel.execute("guest-exec", request)
        guard let pid = started["pid"] as? Int else { throw StepError("the guest agent started no process: \(started)") }
        var relays = ports.relays(opened: true)
        var status: Int32?
        // The wrapper writes the markers before it exits: once it has, they
        // are on their way, and a few seconds is plenty (a wrapper whose
        // relays could not open their ports wrote none).
        var deadline = Date.distantFuture
        while relays.contains(where: { !$0.ended }) || status == nil {
            var arrived = false
            for index in relays.indices where !relays[index].ended {
                arrived = try relays[index].take(timeoutMs: status == nil ? 5 : 50, marker: marker, output) || arrived
            }
            // Asked when output pauses: a download's stream is not slowed by a round trip per read.
            if status == nil && (!arrived || !relays.contains(where: { !$0.ended })) {
                let state = try channel.execute("guest-exec-status", ["pid": pid])
                if state["exited"] as? Bool == true {
                    status = (state["signal"] as? Int).map { 128 + Int32($0) } ?? Int32(state["exitcode"] as? Int ?? 255)
                    deadline = Date().addingTimeInterval(10)
                }
            } else if Date() > deadline {
                break
            }
        }
        return status ?? 255
    }

    /// $1 the command, $2 the end marker, $3 the user, $4 its input, $5 what
    /// runs first as root. Relays through
    /// pipes, so a port is opened once per command and closed when every
    /// holder of the command's output has let go of it; the command's status
    /// comes back on fd 5. Few processes (the shell, two cats): each costs
    /// tens of milliseconds in an emulated guest.
    ///
    /// The agent runs as root; the command runs as the user, as over SSH:
    /// their uid, primary and supplementary groups (initgroups), home,
    /// login shell and environment. Through the first the guest has of
    /// setpriv (util-linux: one exec, no PAM session), runuser, su
    /// (util-linux's or busybox's; both take -s SHELL USER -c CMD) and
    /// `busybox su`, each exec'd by the subshell the command needed
    /// anyway: no process more than for root, which runs as before. With
    /// none of them, or no such user, the command fails with status 126
    /// and says why on its standard error.
    private static let wrapper = #"""
        while IFS=: read -r n _ u g _ h s; do [ "$n" = "$3" ] && break; u= h= s=; done </etc/passwd
        export HOME="${h:-/}" USER="$3" LOGNAME="$3" SHELL="${s:-/bin/sh}"
        cd "$HOME" 2>/dev/null || cd /
        [ -z "$5" ] || eval "$5"
        # By absolute path, found with builtins only (no process), as the
        # user's PATH below may lack sbin.
        t=
        pick() { for d in /usr/bin /bin /usr/sbin /sbin; do [ -x "$d/$1" ] && t="$d/$1" && return 0; done; return 1; }
        if [ "$u" = 0 ] || { [ -z "$u" ] && [ "$3" = root ]; }; then w=root
        elif [ -z "$u" ]; then w="no user $3 in the guest's /etc/passwd (the machine's SSH user); give the machine an SSH user it has"
        elif pick setpriv; then w=setpriv
        elif pick runuser; then w=runuser
        elif pick su; then w=su
        elif pick busybox && "$t" su --help >/dev/null 2>&1; then w=busybox
        else w="the guest has none of setpriv, runuser and su to run commands as $3 (the machine's SSH user); install util-linux (or busybox with su) in it"
        fi
        # sshd's PATH for a user other than root (Debian's default).
        [ "$w" = root ] || export PATH=/usr/local/bin:/usr/bin:/bin:/usr/games
        as() {
            case $w in
            root) exec "$SHELL" -c "$1" ;;
            setpriv) exec "$t" --reuid="$u" --regid="$g" --init-groups "$SHELL" -c "$1" ;;
            runuser) exec "$t" -u "$3" -- "$SHELL" -c "$1" ;;
            su) exec "$t" -s "$SHELL" "$3" -c "$1" ;;
            busybox) exec "$t" su -s "$SHELL" "$3" -c "$1" ;;
            *) echo "host: cannot run the command: $w" >&2; exit 126 ;;
            esac
        }
        s=$({ { { (as "$@") <"$4" 3>&- 5>&-; echo $? >&5; } 2>&1 >&3 3>&- |
                cat >/dev/virtio-ports/host.stderr; } 3>&1 | cat >/dev/virtio-ports/host.stdout; } 5>&1)
        printf %s "$2" >/dev/virtio-ports/host.stdout
        printf %s "$2" >/dev/virtio-ports/host.stderr
        exit "${s:-125}"
        """#
}
