import Foundation
import PluginKit
import PluginSupport

/// A cloud-init NoCloud seed: user-data and meta-data on an ISO 9660 volume
/// labelled "cidata", which cloud-init finds on any attached drive. It
/// leaves the machine as os.debian does: root logs in over SSH with the
/// user's key, sshd offers the host key made here (so host knows it before
/// the first boot), and the serial console logs root in.
public struct NoCloudSeed {
    let hostname: String
    let authorizedKey: String
    let hostPrivateKey: String
    let hostPublicKey: String

    public init(hostname: String, authorizedKey: String, hostPrivateKey: String, hostPublicKey: String) {
        self.hostname = hostname
        self.authorizedKey = authorizedKey
        self.hostPrivateKey = hostPrivateKey
        self.hostPublicKey = hostPublicKey
    }

    /// YAML block scalar lines, indented for a key at `depth`.
    private func block(_ text: String, indent: Int) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { String(repeating: " ", count: indent) + $0 }
            .joined(separator: "\n")
    }

    var userData: String {
        """
        #cloud-config
        hostname: \(hostname)
        disable_root: false
        ssh_pwauth: false
        users:
          - name: root
            ssh_authorized_keys:
              - \(authorizedKey.trimmingCharacters(in: .whitespacesAndNewlines))
        ssh_deletekeys: true
        ssh_genkeytypes: [ed25519] # given below, so none is generated
        ssh_keys:
          ed25519_private: |
        \(block(hostPrivateKey.trimmingCharacters(in: .whitespacesAndNewlines), indent: 4))
          ed25519_public: \(hostPublicKey.trimmingCharacters(in: .whitespacesAndNewlines))
        write_files:
          # systemd distributions (Fedora): the serial getty logs root in.
          - path: /etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf
            content: |
              [Service]
              ExecStart=
              ExecStart=-/sbin/agetty --autologin root --keep-baud 115200,57600,38400,9600 %I $TERM
          # busybox init (Alpine): inittab runs this instead of login.
          - path: /usr/local/sbin/host-autologin
            permissions: '0755'
            content: |
              #!/bin/sh
              exec /bin/login -f root
          # apt (Ubuntu): host's shared package cache when it is forwarded.
          - path: \(PackageCache.aptDetector)
            permissions: '0755'
            content: |
        \(block(PackageCache.aptDetectorScript.trimmingCharacters(in: .newlines), indent: 6))
        runcmd:
          - - sh
            - -c
            - >-
              if [ -d /run/systemd/system ]; then systemctl daemon-reload && systemctl restart serial-getty@ttyS0.service;
              elif [ -f /etc/inittab ]; then
              sed -i 's|^ttyS0:.*|ttyS0::respawn:/sbin/getty -n -l /usr/local/sbin/host-autologin 115200 ttyS0 vt100|' /etc/inittab && kill -HUP 1;
              fi
          - - sh
            - -c
            - >-
              if [ -d /etc/apt/apt.conf.d ]; then echo '\(PackageCache.aptConfig.trimmingCharacters(in: .newlines))' > \(PackageCache.aptConfigFile); fi
          # QEMU's guest agent, when the image has it (Fedora's does).
          - - sh
            - -c
            - >-
              if command -v qemu-ga >/dev/null 2>&1; then
              if [ -d /run/systemd/system ]; then systemctl start qemu-guest-agent;
              else rc-update add qemu-guest-agent default && rc-service qemu-guest-agent start; fi;
              fi

        """
    }

    var metaData: String {
        "instance-id: host-\(UUID().uuidString.lowercased())\nlocal-hostname: \(hostname)\n"
    }

    /// Writes the seed image into `directory` and returns its path.
    public func write(in directory: URL) throws -> String {
        let files = directory.appendingPathComponent("seed")
        try FileManager.default.createDirectory(at: files, withIntermediateDirectories: true)
        try userData.write(to: files.appendingPathComponent("user-data"), atomically: true, encoding: .utf8)
        try metaData.write(to: files.appendingPathComponent("meta-data"), atomically: true, encoding: .utf8)
        let image = directory.appendingPathComponent("seed.iso").path
        try HostTool.run("genisoimage", ["-quiet", "-output", image, "-volid", "cidata", "-joliet", "-rock",
                                         files.appendingPathComponent("user-data").path, files.appendingPathComponent("meta-data").path],
                         package: "genisoimage")
        return image
    }
}
