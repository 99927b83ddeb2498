import Foundation
import PluginKit
import PluginSupport

/// A container machine. Its main process is /bin/sh on a terminal (the
/// console; `podman attach` reaches it); commands run with `podman exec`.
/// Saving is a CRIU checkpoint exported with the container's file changes,
/// restoring is an import under a fresh name; without CRIU, saving exports
/// the filesystem and restoring starts it cold.
final class PodmanMachine: BackendMachine {
    let directory: URL
    var config: PodmanConfig
    private let environment: () throws -> (Podman, ContainerReaper)
    private(set) var container: String?
    /// Restored by CRIU: commands join its time namespace (TimeNamespaceHelper).
    private var restored = false
    private var console: ContainerConsole?
    /// An image set_root_filesystem imported for this machine, until a save
    /// hands it to the cache entry; dropped unsaved, it goes too.
    var importedImage: String?

    static let checkpointFile = "checkpoint.tar.zst"
    static let filesystemFile = "filesystem.tar"

    init(directory: URL, config: PodmanConfig, environment: @escaping () throws -> (Podman, ContainerReaper)) {
        self.directory = directory
        self.config = config
        self.environment = environment
    }

    var podman: Podman { get throws { try environment().0 } }

    // MARK: Lifecycle

    func up(_ call: BackendCall) throws {
        guard container == nil, config.image != nil || config.checkpoint != nil || config.filesystem != nil else { return }
        let (podman, reaper) = try environment()
        let name = PodmanSweep.containerName()
        // Watched from the moment podman starts making it (see ContainerReaper).
        let watch = { (client: pid_t) in reaper.watch(name, client: client) }
        // A container made with the shared package archive mounted is
        // restored with it: it must exist (`cleanup downloads` removes it).
        let archives = try PackageCache.archivesForContainers()
        if let checkpoint = config.checkpoint {
            try ensureImage(podman)
            try podman.run(["container", "restore", "--import", PodmanConfig.resolve(checkpoint, in: directory), "--name", name],
                           started: watch)
            container = name
            let helper = try TimeNamespaceHelper.binary()
            if config.timensHelper != TimeNamespaceHelper.stamp(of: helper) {
                try podman.run(["cp", helper, "\(name):\(TimeNamespaceHelper.pathInContainer)"])
            }
            restored = true
        } else {
            let image: String
            if let filesystem = config.filesystem {
                image = try importedFilesystem(podman, PodmanConfig.resolve(filesystem, in: directory))
            } else {
                try ensureImage(podman)
                image = config.image ?? ""
            }
            // /bin/sh on a terminal is the console, whatever the image's entrypoint.
            try podman.run(["run", "--detach", "--interactive", "--tty", "--name", name, "--label", "host.machine=\(directory.path)"]
                           + PodmanSweep.runMarks() + ["--entrypoint", "/bin/sh"] + podman.runFlags
                           + (archives.map { ["--volume", "\($0.path):\(PackageCache.aptArchivesInGuest)"] } ?? []) + [image], started: watch)
            container = name
        }
    }

    /// The base image, imported again from its root filesystem when podman's
    /// store no longer has it.
    private func ensureImage(_ podman: Podman) throws {
        guard let image = config.image, !podman.succeeds(["image", "exists", image]) else { return }
        guard let tarball = config.rootFilesystem else {
            throw StepError("podman has no image \(image) any more; pull or load it again")
        }
        try podman.run(["import", "--quiet"] + PodmanSweep.importMarks() + [PodmanConfig.resolve(tarball, in: directory), image])
    }

    /// A saved filesystem as an image, so that later restores reuse it.
    private func importedFilesystem(_ podman: Podman, _ path: String) throws -> String {
        guard let image = Self.imageName(of: path, repository: Self.savedRepository) else { throw StepError("\(path) is missing") }
        if !podman.succeeds(["image", "exists", image]) { try podman.run(["import", "--quiet"] + PodmanSweep.importMarks() + [path, image]) }
        return image
    }

    /// The images host makes of a machine's own files: its root filesystem
    /// and a saved filesystem a cold restore starts from.
    static let rootRepository = "localhost/host-rootfs", savedRepository = "localhost/host-saved"

    /// The image of one of a machine's files, named by the file (device,
    /// inode, change time), which publishing the machine (a rename) keeps:
    /// so it is found from the file alone, even when the machine's record
    /// cannot be read.
    static func imageName(of path: String, repository: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return "\(repository):\(info.st_dev)-\(info.st_ino)-\(info.st_ctim.tv_sec)-\(info.st_ctim.tv_nsec)"
    }

    /// Removes images from podman's store; one still used by a container
    /// (another run's) stays, as podman refuses to remove it.
    static func removeImages(_ images: [String], _ podman: Podman) {
        for image in images { _ = podman.succeeds(["image", "rm", image]) }
    }

    func down(_ call: BackendCall) throws {
        guard let container else { return }
        let podman = try self.podman
        console?.close()
        console = nil
        let started = Date()
        if podman.canCheckpoint {
            try podman.run(["container", "checkpoint", "--export", directory.appendingPathComponent(Self.checkpointFile).path,
                            "--compress", "zstd", container])
            config.checkpoint = Self.checkpointFile
            config.criuVersion = podman.criuVersion()
            config.runtime = podman.runtime
            config.timensHelper = restored ? TimeNamespaceHelper.stamp(of: try TimeNamespaceHelper.binary()) : nil
            config.imageID = try podman.run(["container", "inspect", "--format", "{{.Image}}", container])
            config.filesystem = nil
        } else {
            try podman.run(["export", "--output", directory.appendingPathComponent(Self.filesystemFile).path, container])
            config.filesystem = Self.filesystemFile
            config.checkpoint = nil
            config.timensHelper = nil
        }
        remove(podman)
        try config.save(to: directory)
        importedImage = nil
        call.log(String(format: "saved in %.2f s", Date().timeIntervalSince(started)), level: .debug)
    }

    func drop(_ call: BackendCall) {
        guard let podman = try? self.podman else { return }
        remove(podman)
        if let importedImage { Self.removeImages([importedImage], podman) }
    }

    private func remove(_ podman: Podman) {
        console?.close()
        console = nil
        if let container { _ = try? podman.run(["rm", "--force", "--time", "0", container]) }
        container = nil
        restored = false
    }

    /// The container's name as a C string for host.podman/1, kept until the
    /// next call on this machine.
    private var exportedName: UnsafeMutablePointer<CChar>?

    func exportName() -> UnsafePointer<CChar>? {
        free(exportedName)
        exportedName = container.flatMap { strdup($0) }
        return UnsafePointer(exportedName)
    }

    deinit { free(exportedName) }

    private func running() throws -> String {
        guard let container else { throw StepError("the container is not running (it has no image or root filesystem yet)") }
        return container
    }

    // MARK: Commands, files, console

    func exec(_ call: BackendCall, _ command: String, output: (Int32, UnsafeRawBufferPointer) -> Void) throws -> Int32 {
        let run = restored ? ["--privileged", try running(), TimeNamespaceHelper.pathInContainer] : [try running()]
        return try podman.stream(["exec"] + run + ["/bin/sh", "-c", command]) { stream, bytes in
            bytes.withUnsafeBytes { output(stream, $0) }
        }
    }

    func upload(_ call: BackendCall, from localPath: String, to machinePath: String) throws {
        let container = try running()
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: localPath, isDirectory: &isDirectory) else { throw StepError("\(localPath) does not exist") }
        if isDirectory.boolValue {
            // As on backend.qemu: the directory's contents land in machinePath.
            try podman.run(["exec", container, "mkdir", "-p", machinePath])
            try podman.run(["cp", localPath + "/.", "\(container):\(machinePath)"])
        } else {
            try podman.run(["cp", localPath, "\(container):\(machinePath)"])
        }
    }

    func download(_ call: BackendCall, from machinePath: String, to localPath: String) throws {
        try podman.run(["cp", "\(try running()):\(machinePath)", localPath])
    }

    func consoleSend(_ call: BackendCall, _ bytes: UnsafeRawBufferPointer) throws {
        try attached().write(Array(bytes))
    }

    func consoleRead(_ call: BackendCall, into buffer: UnsafeMutableRawBufferPointer, timeoutMs: Int64) throws -> Int {
        try attached().read(into: buffer, timeoutMs: timeoutMs)
    }

    private func attached() throws -> ContainerConsole {
        if let console { return console }
        let console = try ContainerConsole(podman: try podman, container: try running())
        self.console = console
        return console
    }

    /// conmon, whose children are the container's processes: what `host ls`
    /// counts, and whose end is the container's.
    func processes() -> [Int32]? {
        guard let container, let text = try? podman.run(["container", "inspect", "--format", "{{.State.ConmonPid}}", container]),
              let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0 else { return nil }
        return [pid]
    }

    func describe() -> String? {
        container.map { "podman container \($0)" } ?? "container machine (stopped) in \(directory.path)"
    }
}
