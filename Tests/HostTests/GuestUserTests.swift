import Foundation
import Testing

/// Commands through the guest agent run as the machine's SSH user, as they
/// would over SSH: on the Debian DebianTests builds (restored, not built again).
@Suite(.serialized) struct GuestUserTests {
    @Test func agentCommandsRunAsTheSSHUserAsOverSSH() throws {
        let sandbox = try DebianTests.shared.get()
        let user = ["os.debian", "+", "os.debian.user", "dev", "--groups=audio", "--groups=video"]
        let probe = "id -un; id -u; id -G | tr ' ' '\\n' | sort -n | tr '\\n' ' '; echo; echo $HOME $USER $LOGNAME $SHELL; pwd"
        let agent = try sandbox.succeed(user + ["+", "exec", probe])
        let lines = agent.out.split(separator: "\n").map(String.init)
        #expect(lines.first == "dev", "\(agent.out) \(agent.err)")
        #expect(lines.count == 5 && lines[1] != "0")
        #expect(lines.dropFirst(3).first == "/home/dev dev dev /bin/bash")
        // Over SSH the same user sees the same: uid, groups, home, shell, directory.
        let ssh = try sandbox.succeed(user + ["+", "ssh", "--", probe])
        #expect(ssh.out == agent.out)
        // Not root's rights.
        let denied = try sandbox.run(user + ["+", "exec", "touch /root/x"])
        #expect(denied.status != 0)
    }
}
