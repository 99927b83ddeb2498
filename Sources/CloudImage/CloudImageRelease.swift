import Foundation

/// Where a distribution publishes its cloud images and how to pick one
/// from a mirror's directory listing and checksum files.
public protocol CloudImageRelease {
    /// The mirror directory holding the images and their checksum files.
    var directoryURL: String { get }
    /// The image to boot and its "ALGO:HEX" checksum. `checksums` reads a
    /// checksum file of this directory by name.
    func choose(from listing: [String], checksums: (String) throws -> [String: String]) throws -> (image: String, checksum: String)
}

public struct ReleaseError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Fedora Cloud Base: the Generic qcow2 under
/// releases/VERSION/Cloud/x86_64/images, named with a compose number found
/// only in the listing, with a BSD-style, PGP clear-signed CHECKSUM file.
public struct FedoraRelease: CloudImageRelease {
    public static let defaultMirror = "https://download.fedoraproject.org/pub/fedora/linux"
    public let directoryURL: String
    let version: String

    public init(mirror: String, version: String) throws {
        guard !version.isEmpty, version.allSatisfy(\.isNumber) else {
            throw ReleaseError("--version=\(version) is not a Fedora release number; write it like --version=43")
        }
        self.version = version
        directoryURL = "\(mirror)/releases/\(version)/Cloud/x86_64/images"
    }

    public func choose(from listing: [String], checksums: (String) throws -> [String: String]) throws -> (image: String, checksum: String) {
        let lists = newestFirst(listing.filter { $0.hasPrefix("Fedora-Cloud-\(version)-") && $0.hasSuffix("-x86_64-CHECKSUM") })
        guard let list = lists.first else {
            throw ReleaseError("\(directoryURL)/ lists no Fedora-Cloud-\(version)-*-x86_64-CHECKSUM; is Fedora \(version) released, and is the mirror complete?")
        }
        let sums = try checksums(list)
        // Fedora 40 on: "Fedora-Cloud-Base-Generic-41-1.4.x86_64.qcow2"; before: "Fedora-Cloud-Base-39-1.5.x86_64.qcow2".
        let images = newestFirst(sums.keys.filter {
            $0.hasSuffix(".qcow2") && $0.contains("x86_64")
                && ($0.hasPrefix("Fedora-Cloud-Base-Generic") || $0.hasPrefix("Fedora-Cloud-Base-\(version)-"))
        })
        guard let image = images.first, let checksum = sums[image] else {
            throw ReleaseError("\(list) names no Fedora-Cloud-Base-Generic x86_64 qcow2 image")
        }
        return (image, checksum)
    }
}

/// Alpine's cloud-init images: nocloud_alpine-X.Y.Z-x86_64-bios-cloudinit-rN.qcow2
/// (generic_alpine-... in newer releases) under vX.Y/releases/cloud, each
/// with a GNU-style .sha512 (or .sha256) file beside it.
public struct AlpineRelease: CloudImageRelease {
    public static let defaultMirror = "https://dl-cdn.alpinelinux.org/alpine"
    public let directoryURL: String
    let version: String

    public init(mirror: String, version: String) throws {
        let parts = version.split(separator: ".", omittingEmptySubsequences: false)
        guard (2...3).contains(parts.count), parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isNumber) }) else {
            throw ReleaseError("--version=\(version) is not an Alpine release; write it like --version=3.22 (the newest 3.22.x) or --version=3.22.1")
        }
        self.version = version
        directoryURL = "\(mirror)/v\(parts[0]).\(parts[1])/releases/cloud"
    }

    public func choose(from listing: [String], checksums: (String) throws -> [String: String]) throws -> (image: String, checksum: String) {
        func matches(_ name: String, _ flavour: String) -> Bool {
            guard name.hasPrefix("\(flavour)_alpine-\(version)"), name.hasSuffix(".qcow2"), name.contains("-x86_64-bios-cloudinit-r") else { return false }
            // 3.22 takes 3.22.1 but not 3.220.0; 3.22.1 takes only itself.
            let rest = name.dropFirst("\(flavour)_alpine-\(version)".count)
            return rest.hasPrefix("-") || (version.split(separator: ".").count == 2 && rest.hasPrefix("."))
        }
        guard let image = newestFirst(listing.filter { matches($0, "nocloud") }).first
                ?? newestFirst(listing.filter { matches($0, "generic") }).first else {
            throw ReleaseError("\(directoryURL)/ lists no nocloud_alpine-\(version)*-x86_64-bios-cloudinit qcow2 image")
        }
        guard let list = [image + ".sha512", image + ".sha256", "SHA256SUMS", "SHA512SUMS"].first(where: listing.contains) else {
            throw ReleaseError("\(directoryURL)/ publishes no checksum file for \(image)")
        }
        guard let checksum = try checksums(list)[image] else { throw ReleaseError("\(list) has no checksum for \(image)") }
        return (image, checksum)
    }
}

/// Ubuntu's cloud images: ubuntu-VERSION-server-cloudimg-amd64.img (a
/// qcow2, whatever its suffix) under releases/VERSION/release, listed in a
/// GNU-style SHA256SUMS file (`HEX *NAME`) beside it.
public struct UbuntuRelease: CloudImageRelease {
    public static let defaultMirror = "https://cloud-images.ubuntu.com"
    public let directoryURL: String
    let version: String

    public init(mirror: String, version: String) throws {
        let parts = version.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ $0.count == 2 && $0.allSatisfy(\.isNumber) }) else {
            throw ReleaseError("--version=\(version) is not an Ubuntu release; write it like --version=24.04")
        }
        self.version = version
        directoryURL = "\(mirror)/releases/\(version)/release"
    }

    public func choose(from listing: [String], checksums: (String) throws -> [String: String]) throws -> (image: String, checksum: String) {
        let image = "ubuntu-\(version)-server-cloudimg-amd64.img"
        guard listing.contains(image) else { throw ReleaseError("\(directoryURL)/ lists no \(image); is Ubuntu \(version) released?") }
        guard listing.contains("SHA256SUMS") else { throw ReleaseError("\(directoryURL)/ publishes no SHA256SUMS") }
        guard let checksum = try checksums("SHA256SUMS")[image] else { throw ReleaseError("SHA256SUMS has no checksum for \(image)") }
        return (image, checksum)
    }
}
