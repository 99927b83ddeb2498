import Foundation
import HostModel

/// Whether a saved machine is what was published: its manifest's key
/// matches its directory and its recorded inputs, and every file it
/// recorded is there with its size (checked before every reuse) and its
/// SHA-256 (checked the first time the entry is used where it lies, after a
/// restore that failed, and by `host cache verify`). Damage makes host
/// rebuild the step, never boot it.
enum EntryVerifier {
    /// Every path of the saved machine by type, files with their sizes and
    /// digests, for the manifest. Sockets and FIFOs are left out: they are a
    /// running machine's, never its saved state.
    static func record(_ directory: URL) throws -> [Manifest.SavedPath] {
        let machine = directory.appendingPathComponent("machine")
        guard let walker = FileManager.default.enumerator(atPath: machine.path) else { return [] }
        var paths: [Manifest.SavedPath] = []
        while let relative = walker.nextObject() as? String {
            let path = machine.appendingPathComponent(relative).path, name = "machine/" + relative
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }
            switch info.st_mode & S_IFMT {
            case S_IFREG:
                let sparse = SparseDigest.isSparse(info)
                paths.append(.init(path: name, type: .file, size: Int64(info.st_size),
                                   sha256: try Manifest.SavedPath.digest(of: path, sparse: sparse), sparse: sparse ? true : nil))
            case S_IFDIR: paths.append(.init(path: name, type: .directory))
            case S_IFLNK: paths.append(.init(path: name, type: .symlink, target: try FileManager.default.destinationOfSymbolicLink(atPath: path)))
            case S_IFCHR where info.st_rdev == 0: paths.append(.init(path: name, type: .whiteout))
            default: continue
            }
        }
        return paths.sorted { $0.path < $1.path }
    }

    /// The damage the cheap checks find (the key, and every path's type,
    /// a file's size, a symlink's target), or nil.
    static func quickProblem(_ manifest: Manifest, in directory: URL) -> String? {
        guard manifest.key == directory.lastPathComponent else {
            return "damaged: its manifest names key \(manifest.key.prefix(12)), not its own \(directory.lastPathComponent.prefix(12))"
        }
        guard manifest.keyIsConsistent else { return "damaged: its manifest's key is not the one its recorded inputs give" }
        let saved = manifest.saved ?? []
        // Older manifests list files only: the folders on their way must be
        // real folders too, or lstat of the file would follow a link.
        let folders = manifest.paths == nil
            ? Set(saved.flatMap { file in
                let parts = file.path.split(separator: "/").dropLast()
                return parts.indices.dropFirst().map { parts[...$0].joined(separator: "/") }
            }).sorted().map { Manifest.SavedPath(path: $0, type: .directory) }
            : []
        // Sorted, a folder comes before what is in it: a folder swapped for
        // a link is named before anything is looked up through it.
        for entry in [Manifest.SavedPath(path: "machine", type: .directory)] + folders + saved {
            var info = stat()
            let path = directory.appendingPathComponent(entry.path).path
            // lstat: a link put in place of a file or folder is damage, never followed.
            guard lstat(path, &info) == 0 else { return "damaged: \(entry.path) is missing" }
            let type = info.st_mode & S_IFMT
            switch entry.kind {
            case .file:
                guard type == S_IFREG else { return "damaged: \(entry.path) is no longer a plain file" }
                guard Int64(info.st_size) == entry.size else {
                    return "damaged: \(entry.path) is \(info.st_size) bytes, not the \(entry.size ?? 0) it was saved with"
                }
            case .directory:
                guard type == S_IFDIR else { return "damaged: \(entry.path) is no longer a directory\(type == S_IFLNK ? " (a symlink is in its place)" : "")" }
            case .symlink:
                guard type == S_IFLNK, (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) == entry.target else {
                    return "damaged: \(entry.path) is no longer the symlink to \(entry.target ?? "") it was saved as"
                }
            case .whiteout:
                guard type == S_IFCHR, info.st_rdev == 0 else { return "damaged: \(entry.path) is no longer a whiteout" }
            }
        }
        return nil
    }

    /// The first file whose digest is not the one recorded, or nil.
    static func digestProblem(_ manifest: Manifest, in directory: URL) -> String? {
        for file in manifest.saved ?? [] where file.kind == .file {
            let path = directory.appendingPathComponent(file.path).path
            guard let digest = try? file.digest(at: path) else { return "damaged: \(file.path) cannot be read" }
            guard digest == file.sha256 else { return "damaged: \(file.path) is not the file it was saved as (its SHA-256 differs)" }
        }
        return nil
    }

    /// Everything: quick checks, then digests.
    static func problem(_ manifest: Manifest, in directory: URL) -> String? {
        quickProblem(manifest, in: directory) ?? digestProblem(manifest, in: directory)
    }

    // MARK: What host learnt of an entry, kept beside the cache
    // (CACHE/checks/KEY.*), never in it: the entries stay as published.

    private static func note(_ directory: URL, _ kind: String) -> URL {
        directory.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("checks/\(directory.lastPathComponent).\(kind)")
    }

    /// Whether the entry's digests were checked while its manifest was this
    /// very file: a copy or a move to another disk, or a rebuild, makes a
    /// new file, and the digests are checked again.
    static func isVerified(_ directory: URL) -> Bool {
        guard let data = try? Data(contentsOf: note(directory, "verified")),
              let recorded = try? JSONDecoder().decode(FileIdentity.self, from: data) else { return false }
        return recorded == FileIdentity(directory.appendingPathComponent("manifest.json").path)
    }

    /// Best effort: without it the digests are only checked again.
    static func markVerified(_ directory: URL) {
        guard let identity = FileIdentity(directory.appendingPathComponent("manifest.json").path),
              let data = try? JSONEncoder().encode(identity) else { return }
        write(data, to: note(directory, "verified"))
    }

    /// Marks an entry found damaged, so that every run (this one's retry
    /// included) rebuilds it rather than trusting it; publishing a rebuilt
    /// one removes the mark.
    static func markDamaged(_ directory: URL, _ reason: String) {
        write(Data(reason.utf8), to: note(directory, "damaged"))
    }

    static func damage(_ directory: URL) -> String? {
        (try? String(contentsOf: note(directory, "damaged"), encoding: .utf8))
    }

    static func forgetNotes(_ directory: URL) {
        for kind in ["verified", "damaged"] { try? FileManager.default.removeItem(at: note(directory, kind)) }
    }

    /// Whole or not at all: written beside, then renamed.
    private static func write(_ data: Data, to file: URL) {
        try? FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true,
                                                 attributes: [.posixPermissions: 0o700])
        let temporary = file.deletingLastPathComponent().appendingPathComponent(".\(file.lastPathComponent).\(getpid())")
        guard (try? data.write(to: temporary)) != nil else { return }
        if rename(temporary.path, file.path) != 0 { try? FileManager.default.removeItem(at: temporary) }
    }
}
