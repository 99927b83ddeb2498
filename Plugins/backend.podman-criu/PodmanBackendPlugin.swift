import Foundation
import PluginABI
import PluginKit
import PluginSupport

/// What every machine of this plugin shares in one host run, made on first
/// use (host calls plugins on one thread): the detected podman command line,
/// and, once a container starts, the watchdog that removes this run's
/// containers. Checking or forgetting a saved machine needs only the first.
nonisolated(unsafe) var detected: Podman?
nonisolated(unsafe) var reaper: ContainerReaper?

func podmanCommand() throws -> Podman {
    if let detected { return detected }
    let podman = try Podman.detect()
    detected = podman
    return podman
}

/// The podman command line and the watchdog, for starting containers; the
/// first time, host says whether their processes can survive a save.
func environment() throws -> (Podman, ContainerReaper) {
    let podman = try podmanCommand()
    if let reaper { return (podman, reaper) }
    if let problem = podman.criuProblem {
        StandardStream.error.write("host: backend.podman-criu: no working CRIU (\(problem)); saving a container keeps its files, but its running processes will not survive a save\n")
    }
    let made = try ContainerReaper(podman: podman)
    reaper = made
    return (podman, made)
}

struct PodmanBackend: SweepingBackend {
    /// A new container machine: of `--image` (from podman's store, or an OCI
    /// archive file loaded into it), or empty for an OS step to fill.
    func create(_ call: BackendCall, directory: String, arguments: Arguments) throws -> BackendMachine {
        let url = URL(fileURLWithPath: directory)
        var config = PodmanConfig()
        let image = arguments.string("image")
        if !image.isEmpty {
            let podman = try environment().0
            if FileManager.default.fileExists(atPath: image) {
                let path = URL(fileURLWithPath: image).standardizedFileURL.path
                let loaded = try podman.run(["load", "--quiet", "--input", "oci-archive:" + path])
                guard let name = loaded.split(separator: "\n").last?.split(separator: " ").last.map(String.init) else {
                    throw StepError("podman load gave no image name for \(path): \(loaded)")
                }
                config.image = name
            } else {
                guard podman.succeeds(["image", "exists", image]) else {
                    throw StepError.usage("podman has no image \(image) (see `podman images`; no registry is pulled from: load or import it first)")
                }
                config.image = image
            }
        }
        try config.save(to: url)
        return PodmanMachine(directory: url, config: config, environment: environment)
    }

    /// A clone refers to its parent's checkpoint; nothing is copied.
    func clone(_ call: BackendCall, from source: String, to destination: String) throws -> BackendMachine {
        let sourceURL = URL(fileURLWithPath: source), destinationURL = URL(fileURLWithPath: destination)
        let config = try PodmanConfig.load(from: sourceURL).anchored(at: sourceURL)
        try config.save(to: destinationURL)
        return PodmanMachine(directory: destinationURL, config: config, environment: environment)
    }

    func check(_ call: BackendCall, directory: String) throws {
        let url = URL(fileURLWithPath: directory)
        let config = try PodmanConfig.load(from: url)
        for file in config.files(in: url) where !FileManager.default.fileExists(atPath: file) {
            throw StepError("\(file) is missing")
        }
        // A checkpoint restores only with CRIU, onto the very image it was
        // made from; a machine saved without CRIU lost its processes, which
        // a rebuild with CRIU now keeps.
        let podman = try podmanCommand()
        if config.checkpoint != nil, !podman.canCheckpoint {
            throw StepError("it was saved with CRIU, which does not work here now")
        }
        if config.checkpoint != nil, let saved = config.runtime, let here = podman.runtime, saved != here {
            throw StepError("it was checkpointed under the OCI runtime \(saved), and podman here runs containers under \(here)")
        }
        if config.checkpoint != nil, let saved = config.criuVersion, let here = podman.criuVersion(), VersionNumber.isOlder(here, than: saved) {
            throw StepError("it was checkpointed by CRIU \(saved), and this computer's criu is \(here), which does not read a newer CRIU's images")
        }
        if config.filesystem != nil, podman.canCheckpoint {
            throw StepError("it was saved without CRIU, so without its processes; CRIU works now")
        }
        // The name must still mean that image: `--image=NAME` retagged to a
        // new build rebuilds what was made on the old one.
        if let id = config.imageID, let image = config.image {
            guard let current = try? podman.run(["image", "inspect", "--format", "{{.Id}}", image]) else {
                throw StepError("podman no longer has image \(image), which its checkpoint restores onto")
            }
            guard current == id else {
                throw StepError("\(image) is now image \(current.prefix(12)), not \(id.prefix(12)) which its checkpoint restores onto")
            }
        }
    }

    func forget(_ call: BackendCall, directory: String) {
        let url = URL(fileURLWithPath: directory)
        guard let podman = try? podmanCommand() else { return }
        guard let config = try? PodmanConfig.load(from: url) else {
            // Its record is unreadable: its own files still name the images made of them.
            PodmanMachine.removeImages([(PodmanMachine.rootRepository, "rootfs.tar"), (PodmanMachine.savedRepository, PodmanMachine.filesystemFile)]
                .compactMap { PodmanMachine.imageName(of: url.appendingPathComponent($1).path, repository: $0) }, podman)
            return
        }
        // A run that died building here may have left its container (the
        // watchdog removes it, perhaps not yet), which holds the image.
        let leftovers = (try? podman.run(["ps", "--all", "--quiet", "--filter", "label=host.machine=\(directory)"])) ?? ""
        for container in leftovers.split(separator: "\n") {
            _ = podman.succeeds(["rm", "--force", "--time", "0", String(container)])
        }
        PodmanMachine.removeImages(config.ownedImages(in: url), podman)
    }

    func sweep(_ call: BackendCall, _ scope: SweepScope) { PodmanSweep.sweep(call, scope) }

    func extensionTable(_ id: String) -> UnsafeRawPointer? {
        switch id {
        case HOST_CONTAINER_V1, HOST_PODMAN_V1: UnsafeRawPointer(containerExtension)
        case HOST_SWEEP_V1: UnsafeRawPointer(sweepExtension)
        default: nil
        }
    }
}

private func machine(_ raw: UnsafeMutableRawPointer?) -> PodmanMachine? { backendMachine(raw, as: PodmanMachine.self) }

/// The host.container/1 table (host_container.h), also offered under its
/// old name host.podman/1, whose table is its prefix.
nonisolated(unsafe) let containerExtension: UnsafeMutablePointer<host_container_v1> = {
    let table = UnsafeMutablePointer<host_container_v1>.allocate(capacity: 1)
    table.initialize(to: host_container_v1(
        struct_size: MemoryLayout<host_container_v1>.size,
        set_root_filesystem: { call, raw, tarball in
            func fail(_ message: String) -> host_status {
                if let call { call.pointee.services.pointee.set_error(call, message) }
                return HOST_ERROR
            }
            guard let machine = machine(raw), let tarball else { return fail("set_root_filesystem needs a container machine and a tarball") }
            guard machine.container == nil, machine.config.checkpoint == nil, machine.config.filesystem == nil else {
                return fail("set_root_filesystem: the container has started already")
            }
            do {
                let copy = machine.directory.appendingPathComponent("rootfs.tar")
                try? FileManager.default.removeItem(at: copy)
                try FileManager.default.copyItem(atPath: String(cString: tarball), toPath: copy.path)
                guard let image = PodmanMachine.imageName(of: copy.path, repository: PodmanMachine.rootRepository) else {
                    return fail("set_root_filesystem: \(copy.path) vanished")
                }
                try machine.podman.run(["import", "--quiet"] + PodmanSweep.importMarks() + [copy.path, image])
                machine.importedImage = image
                machine.config.image = image
                machine.config.rootFilesystem = "rootfs.tar"
                try machine.config.save(to: machine.directory)
                return HOST_OK
            } catch {
                return fail("set_root_filesystem: \(error)")
            }
        },
        container: { raw in machine(raw)?.exportName() },
        connection: { _ in UnsafePointer(ansibleConnection) }))
    return table
}()

/// ansible's connection plugin for a podman container (the containers.podman
/// collection, in Debian's ansible package), for host.container/1.
nonisolated(unsafe) let ansibleConnection = strdup("containers.podman.podman")

let plugin = Plugin(name: "backend.podman-criu", version: "1.0.0", steps: [
    Step("backend.podman-criu", summary: "podman containers, saved and restored with CRIU (processes resume where they were)",
         flags: .backend,
         parameters: [
            .string("image", default: "", help: "an image in podman's store, or an OCI archive file (default: an OS step provides the root filesystem)"),
         ]) { call in
        // Configured where it is made (PodmanBackend.create); an archive file is a dependency.
        let image = call.string("image")
        if !image.isEmpty, FileManager.default.fileExists(atPath: image) {
            try call.dependOn(file: URL(fileURLWithPath: image).standardizedFileURL.path)
        }
        return call.machine
    },
], backend: PodmanBackend())

@_cdecl("host_plugin_entry_v1")
public func hostPluginEntry() -> UnsafeRawPointer { plugin.descriptor }
