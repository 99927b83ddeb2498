import Foundation
import PluginKit

/// What a saved container machine needs to be cloned and restored, kept as
/// `podman.json` in its directory. As with backend.qemu, the machine's own
/// files are relative (the directory moves when host publishes it) and its
/// ancestors' are absolute.
struct PodmanConfig: MachineRecord {
    static let fileName = "podman.json"
    var version = 1
    /// The image the container runs: from podman's store, an OCI archive
    /// loaded once, or a root filesystem an OS step imported.
    var image: String?
    /// The root filesystem tarball `image` was imported from, to import it
    /// again when podman's store lost it.
    var rootFilesystem: String?
    /// The image's ID when the checkpoint was made: podman restores a
    /// checkpoint onto that exact image, which an import cannot make again.
    var imageID: String?
    /// A CRIU checkpoint with the container's file changes (podman
    /// container checkpoint --export): processes resume where they were.
    var checkpoint: String?
    /// Who made `checkpoint`: the CRIU version and the OCI runtime, which
    /// a restore needs as new and the same (nil in records made before).
    var criuVersion: String?
    var runtime: String?
    /// Without CRIU: the container's whole filesystem (podman export);
    /// restored by a cold start, so processes do not survive.
    var filesystem: String?
    /// The host-timens (size and mtime) a restore copied into the
    /// container's /run, which the next checkpoint keeps with the rest of
    /// that tmpfs: a restore of that checkpoint by the same helper needs no
    /// copy (each podman call costs a tenth of a second).
    var timensHelper: String?

    /// This config as seen from a clone: every own file made absolute.
    func anchored(at directory: URL) -> PodmanConfig {
        var copy = self
        copy.rootFilesystem = rootFilesystem.map { Self.resolve($0, in: directory) }
        copy.checkpoint = checkpoint.map { Self.resolve($0, in: directory) }
        copy.filesystem = filesystem.map { Self.resolve($0, in: directory) }
        return copy
    }

    /// The images this machine put in podman's store itself, which go with
    /// it: the one imported from its own root filesystem, and the one a
    /// cold restore made of its own saved filesystem. A clone's files are
    /// absolute (its parent's), so a clone owns none of its parent's.
    func ownedImages(in directory: URL) -> [String] {
        var images: [String] = []
        if let image, let rootFilesystem, !rootFilesystem.hasPrefix("/") { images.append(image) }
        if let filesystem, !filesystem.hasPrefix("/"),
           let saved = PodmanMachine.imageName(of: Self.resolve(filesystem, in: directory), repository: PodmanMachine.savedRepository) {
            images.append(saved)
        }
        return images
    }

    /// Every file this config refers to, absolute.
    func files(in directory: URL) -> [String] {
        [rootFilesystem, checkpoint, filesystem].compactMap { $0 }.map { Self.resolve($0, in: directory) }
    }
}
