import Foundation
@testable import HostCore
@testable import HostModel
import Testing

/// What host reads from a registry, checked in-process: an image's config
/// that names something host never makes, and skopeo's log lines, are said
/// in host's words.
struct RegistryFormatTests {
    private func config(key: String, build: String = "0c6f5f0e-5d43-4a5e-9f0e-1f7a0c1b2d3e") -> Data {
        Data("""
            {"version": 1, "pipeline": "os.busybox", "backend": "backend.qemu", "created": "2026-12-07T00:00:00Z",
             "pushedBy": "host 0.1.0", "entries": [{"key": "\(key)", "build": "\(build)", "step": "os.busybox", "directory": "/c/machines/x/machine"}]}
            """.utf8)
    }

    @Test func aConfigNamingAKeyHostNeverMakesIsRefusedSayingSo() throws {
        #expect(throws: HostError(.damagedData, "its config names the entry key \"../../x-key\", which is not a key host makes (64 hexadecimal digits): the image was altered or not pushed by host")) {
            try MachineImage.decode(config(key: "../../x-key"))
        }
        let key = String(repeating: "ab", count: 32)
        #expect(throws: HostError.self) { try MachineImage.decode(config(key: key, build: "../x")) }
        #expect(try MachineImage.decode(config(key: key)).entries.first?.key == key)
    }

    @Test func skopeosLogPrefixIsLeftOut() {
        let said = #"time="2026-12-07T06:00:00Z" level=fatal msg="writing blob: \"layer\" Digest did not match""# + "\n"
        #expect(Skopeo.message(said) == #"writing blob: "layer" Digest did not match"#)
        #expect(Skopeo.message("plain words\n") == "plain words")
    }
}
