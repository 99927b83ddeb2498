import Foundation

/// Whether a saved machine is what was published: its manifest's key
/// matches its directory and its recorded inputs, and every file it
/// recorded is there with its size (checked before every reuse) and its
/// SHA-256 (checked the first time the entry is used where it lies, after a
/// restore that failed, and by `host cache verify`). Damage makes host
/// rebuild the step, never boot it.
enum EntryVerifier {
    /// The saved machine's files, with sizes and digests, for the manifest.
    static func record(_ directory: URL) throws -> [Manifest.SavedFile] {
        let machine = directory.appendingPathComponent("machine")
        guard let walker = FileManager.default.enumerator(atPath: machine.path) else { return [] }
        var files: [Manifest.SavedFile] = []
        while let relative = walker.nextObject() as? String {
            let path = machine.appendingPathComponent(relative).path
            var info = stat()
            guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { continue }
            let sparse = SparseDigest.isSparse(info)
            files.append(.init(path: "machine/" + relative, size: Int64(info.st_size),
                               sha256: try Manifest.SavedFile.digest(of: path, sparse: sparse), sparse: sparse ? true : nil))
        }
        return files.sorted { $0.path < $1.path }
    }

    /// The damage the cheap checks find (the key, and every file's presence
    /// and size), or nil.
    static func quickProblem(_ manifest: Manifest, in directory: URL) -> String? {
        guard manifest.key == directory.lastPathComponent else {
            return "damaged: its manifest names key \(manifest.key.prefix(12)), not its own \(directory.lastPathComponent.prefix(12))"
        }
        guard manifest.keyIsConsistent else { return "damaged: its manifest's key is not the one its recorded inputs give" }
        for file in manifest.files ?? [] {
            var info = stat()
            let path = directory.appendingPathComponent(file.path).path
            // lstat: a link put in place of a file is damage, never followed.
            guard lstat(path, &info) == 0 else { return "damaged: \(file.path) is missing" }
            guard info.st_mode & S_IFMT == S_IFREG else { return "damaged: \(file.path) is no longer a plain file" }
            guard Int64(info.st_size) == file.size else {
                return "damaged: \(file.path) is \(info.st_size) bytes, not the \(file.size) it was saved with"
            }
        }
        return nil
    }

    /// The first file whose digest is not the one recorded, or nil.
    static func digestProblem(_ manifest: Manifest, in directory: URL) -> String? {
        for file in manifest.files ?? [] {
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
