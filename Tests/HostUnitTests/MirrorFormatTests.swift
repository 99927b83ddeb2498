import CloudImage
import Foundation
@testable import HostCore
@testable import HostModel
import Testing

/// URL and checksum resolution of os.fedora and os.alpine, against copies of
/// the formats Fedora's and Alpine's mirrors publish (Tests/Fixtures/mirrors).
struct MirrorFormatTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures/mirrors")

    func fixture(_ name: String) throws -> String {
        try String(contentsOf: Self.fixtures.appendingPathComponent(name), encoding: .utf8)
    }

    /// What `choose` asked for, and the lists it got, from the fixtures.
    func checksums(_ name: String) throws -> [String: String] { ChecksumList.parse(try fixture(name)) }

    @Test func apacheListingGivesFileNamesOnly() throws {
        let names = DirectoryIndex.names(in: try fixture("fedora-42-images-index.html"))
        #expect(names.count == 8)
        #expect(names.contains("Fedora-Cloud-42-1.1-x86_64-CHECKSUM"))
        #expect(!names.contains { $0.hasPrefix("?") || $0.hasPrefix("/") })
    }

    @Test func nginxListingKeepsFullNamesNotTheCutLinkText() throws {
        let names = DirectoryIndex.names(in: try fixture("alpine-v3.22-cloud-index.html"))
        #expect(names.contains("nocloud_alpine-3.22.1-x86_64-bios-cloudinit-r0.qcow2.sha512"))
        #expect(!names.contains("../"))
        #expect(!names.contains { $0.contains("..>") || $0.contains("&gt;") })
    }

    @Test func fedoraPicksTheGenericQcow2AndItsSHA256() throws {
        let release = try FedoraRelease(mirror: "https://mirror.example/fedora/linux", version: "42")
        #expect(release.directoryURL == "https://mirror.example/fedora/linux/releases/42/Cloud/x86_64/images")
        var asked: [String] = []
        let chosen = try release.choose(from: DirectoryIndex.names(in: try fixture("fedora-42-images-index.html"))) {
            asked.append($0)
            return try checksums($0)
        }
        #expect(asked == ["Fedora-Cloud-42-1.1-x86_64-CHECKSUM"])
        #expect(chosen.image == "Fedora-Cloud-Base-Generic-42-1.1.x86_64.qcow2")
        let line = try #require(try fixture(asked[0]).split(separator: "\n").first { $0.hasPrefix("SHA256 (\(chosen.image))") })
        let digest = try #require(line.split(separator: " ").last)
        #expect(chosen.checksum == "sha256:\(digest)")
    }

    @Test func fedoraExplainsAMissingRelease() throws {
        let release = try FedoraRelease(mirror: "https://m", version: "41")
        #expect(throws: ReleaseError.self) {
            try release.choose(from: DirectoryIndex.names(in: try fixture("fedora-42-images-index.html"))) { try checksums($0) }
        }
        #expect(throws: ReleaseError.self) { try FedoraRelease(mirror: "https://m", version: "forty") }
    }

    @Test func alpinePicksTheNewestNocloudBiosImageOfTheBranch() throws {
        let listing = DirectoryIndex.names(in: try fixture("alpine-v3.22-cloud-index.html"))
        let release = try AlpineRelease(mirror: "https://dl-cdn.example/alpine", version: "3.22")
        #expect(release.directoryURL == "https://dl-cdn.example/alpine/v3.22/releases/cloud")
        let chosen = try release.choose(from: listing) { try checksums($0) }
        #expect(chosen.image == "nocloud_alpine-3.22.1-x86_64-bios-cloudinit-r0.qcow2")
        #expect(chosen.checksum.hasPrefix("sha512:") && chosen.checksum.count == 7 + 128)

        // An exact version takes only itself; a version the branch lacks is explained.
        let exact = try AlpineRelease(mirror: "https://m", version: "3.22.0")
        var asked: [String] = []
        _ = try? exact.choose(from: listing) { asked.append($0); return [:] }
        #expect(asked == ["nocloud_alpine-3.22.0-x86_64-bios-cloudinit-r0.qcow2.sha512"])
        #expect(throws: ReleaseError.self) { try AlpineRelease(mirror: "https://m", version: "3.22.7").choose(from: listing) { try checksums($0) } }
        #expect(throws: ReleaseError.self) { try AlpineRelease(mirror: "https://m", version: "edge") }
    }

    /// Ubuntu's SHA256SUMS, in the format cloud-images.ubuntu.com publishes
    /// (written from it: that mirror is not reachable from these machines).
    @Test func ubuntuPicksTheServerImageFromSHA256SUMS() throws {
        let release = try UbuntuRelease(mirror: "https://cloud-images.ubuntu.com", version: "24.04")
        #expect(release.directoryURL == "https://cloud-images.ubuntu.com/releases/24.04/release")
        let listing = ["SHA256SUMS", "SHA256SUMS.gpg", "ubuntu-24.04-server-cloudimg-amd64.img", "ubuntu-24.04-server-cloudimg-arm64.img"]
        let chosen = try release.choose(from: listing) { _ in try checksums("ubuntu-24.04-SHA256SUMS") }
        #expect(chosen.image == "ubuntu-24.04-server-cloudimg-amd64.img")
        #expect(chosen.checksum == "sha256:" + String(repeating: "a1", count: 32))
        #expect(throws: (any Error).self) { try UbuntuRelease(mirror: "https://x", version: "noble") }
    }

    @Test func checksumListsInBothFormats() throws {
        let bsd = ChecksumList.parse(try fixture("Fedora-Cloud-42-1.1-x86_64-CHECKSUM"))
        #expect(bsd.count == 7) // every image, none of the signature's lines
        #expect(bsd.values.allSatisfy { $0.hasPrefix("sha256:") })
        let gnu = ChecksumList.parse("\(String(repeating: "ab", count: 32)) *dir/file.img\nnot a line\n")
        #expect(gnu == ["file.img": "sha256:" + String(repeating: "ab", count: 32)])
    }

    @Test func checksumSpellingsHostAccepts() throws {
        let sum = try DownloadCache.Checksum("SHA256:" + String(repeating: "AB", count: 32))
        #expect(sum.name == "sha256-" + String(repeating: "ab", count: 32))
        #expect(throws: HostError.self) { try DownloadCache.Checksum("md5:0123") }
        #expect(throws: HostError.self) { try DownloadCache.Checksum("sha256:xyz") }
    }
}
