import Foundation
import PluginABI
import PluginKit

/// What host makes in podman's store carries marks that let `host cleanup`
/// find it again when nothing else names it (host.sweep/1, host_sweep.h):
/// an image whose import went on after host was killed, a container the
/// watchdog never removed. Every image host imports and every container it
/// runs is labelled with the cache it was made for; an image also with the
/// process that imported it, and a container's name holds the process that
/// runs it (a restored container keeps the labels it was checkpointed with).
enum PodmanSweep {
    static let cacheLabel = "host.cache"
    static let ownerLabel = "host.owner"

    /// The cache's directory as host derives it from the environment it
    /// shares with its plugins: the value of every cache label.
    static var cacheDirectory: String { SharedRules.cacheRoot().path }

    /// `podman import` options that mark the image (`cache`: as made for
    /// this cache; the runtime probe's image is every cache's). A label's
    /// value is in double quotes, so that a path with a space or '=' stays
    /// one value; podman takes what is between them as it is (a backslash
    /// escapes nothing), so a value with a double quote goes bare.
    static func importMarks(cache: Bool = true) -> [String] {
        func quoted(_ text: String) -> String { text.contains("\"") ? text : "\"" + text + "\"" }
        noteUse() // the probe's image too: `cleanup everything` removes it
        return (cache ? ["--change", "LABEL \(cacheLabel)=\(quoted(cacheDirectory))"] : [])
            + ["--change", "LABEL \(ownerLabel)=\(quoted(RunOwner.current))"]
    }

    /// `podman run` options that mark the container.
    static func runMarks() -> [String] {
        noteUse()
        return ["--label", "\(cacheLabel)=\(cacheDirectory)"]
    }

    /// A new container's name: `host-PID-START-RANDOM`, naming this process.
    static func containerName() -> String {
        "host-\(RunOwner.current)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// The process a container's name names; nil for a name of another form.
    static func owner(ofContainer name: String) -> String? {
        let parts = name.split(separator: "-")
        guard parts.count == 4, parts[0] == "host" else { return nil }
        return "\(parts[1])-\(parts[2])"
    }

    /// The file whose presence says this cache has made something in
    /// podman's store: a cache that never did is swept without asking podman.
    private static func marker(in cache: String) -> URL {
        URL(fileURLWithPath: cache).appendingPathComponent("backend.podman-criu/used")
    }

    /// Kept once made: removing it when a sweep found nothing would race
    /// a run that is about to make something.
    private static func noteUse() {
        let file = marker(in: cacheDirectory)
        guard !FileManager.default.fileExists(atPath: file.path) else { return }
        try? FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: file.path, contents: nil)
    }

    /// Removes the cache's containers that no running host runs, then its
    /// images that no live machine directory owns and no running host
    /// imported (podman refuses to remove one a container still uses);
    /// with `everything`, the runtime probe's image too.
    static func sweep(_ call: BackendCall, _ scope: SweepScope) {
        let (cache, live, everything) = (scope.cacheDirectory, scope.liveDirectories, scope.everything)
        guard FileManager.default.fileExists(atPath: marker(in: cache).path) else { return }
        let podman: Podman
        do {
            podman = try podmanCommand()
        } catch {
            call.log("cannot sweep podman's store for the cache: \(error)", level: .warning)
            return
        }
        let filter = ["--filter", "label=\(cacheLabel)=\(cache)"]
        // Containers first: a container holds its image.
        let containers = (try? podman.run(["ps", "--all", "--format", "{{.ID}} {{.Names}}"] + filter)) ?? ""
        for line in containers.split(separator: "\n") {
            let fields = line.split(separator: " ").map(String.init)
            guard fields.count == 2 else { continue }
            if let owner = owner(ofContainer: fields[1]), RunOwner.isRunning(owner) { continue }
            if podman.succeeds(["rm", "--force", "--time", "0", fields[0]]) {
                call.log("removed the container \(fields[1]), which no running host uses", level: .info)
            }
        }
        let owned = ownedImages(live)
        let images = (try? podman.run(["images", "--no-trunc", "--format", "{{.ID}} {{.Repository}}:{{.Tag}} {{index .Labels \"\(ownerLabel)\"}}"] + filter)) ?? ""
        for line in images.split(separator: "\n") {
            let fields = line.split(separator: " ").map(String.init)
            guard fields.count >= 2 else { continue }
            let id = fields[0].replacingOccurrences(of: "sha256:", with: "")
            // An image whose name went to a newer one is removed by its ID.
            let name = fields[1] == "<none>:<none>" ? id : fields[1]
            guard !owned.contains(name), !owned.contains(id), !RunOwner.isRunning(fields.count > 2 ? fields[2] : "") else { continue }
            if podman.succeeds(["image", "rm", name]) {
                call.log("removed the image \(name), which no cached machine owns", level: .info)
            }
        }
        if everything {
            let owner = (try? podman.run(["image", "inspect", "--format", "{{index .Labels \"\(ownerLabel)\"}}", Podman.probeImage])) ?? ""
            if !RunOwner.isRunning(owner) { _ = podman.succeeds(["image", "rm", Podman.probeImage]) }
        }
    }

    /// The images (names, and the IDs checkpoints restore onto) the
    /// machines in `live` use or made of their own files; what their files
    /// name them (PodmanMachine.imageName) holds even when a record cannot
    /// be read.
    private static func ownedImages(_ live: [String]) -> Set<String> {
        var names = Set<String>()
        for path in live {
            let directory = URL(fileURLWithPath: path)
            for (repository, file) in [(PodmanMachine.rootRepository, "rootfs.tar"), (PodmanMachine.savedRepository, PodmanMachine.filesystemFile)] {
                if let name = PodmanMachine.imageName(of: directory.appendingPathComponent(file).path, repository: repository) { names.insert(name) }
            }
            guard let config = try? PodmanConfig.load(from: directory) else { continue }
            if let image = config.image { names.insert(image) }
            if let id = config.imageID { names.insert(id.replacingOccurrences(of: "sha256:", with: "")) }
            if let filesystem = config.filesystem,
               let saved = PodmanMachine.imageName(of: PodmanConfig.resolve(filesystem, in: directory), repository: PodmanMachine.savedRepository) {
                names.insert(saved)
            }
        }
        return names
    }
}
