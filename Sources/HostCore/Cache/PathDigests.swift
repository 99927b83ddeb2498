import Foundation
import HostModel

/// The digest of what a host path names, for cache keys (path parameters)
/// and file dependencies: a file's SHA-256, or for a directory the digest
/// of every entry's relative name, type, mode and content (a file's digest,
/// a symlink's target, never followed). Where a path lies never enters it,
/// so two checkouts of one repository give the same digests.
///
/// A warm run must not read unchanged files again: each file's digest is
/// remembered by its identity (FileIdentity.stamp: device, inode, size, times) in
/// CACHE/digests.json, so a tree costs one lstat per entry until something
/// in it changes.
final class PathDigests: @unchecked Sendable {
    /// The one memo of the process; the cache store points it at its file.
    /// host calls plugins, and so this, on one thread only.
    nonisolated(unsafe) static var shared = PathDigests(memo: nil)

    private let memo: URL?
    /// FileIdentity stamp -> SHA-256, as read (on first use: a run with no host
    /// path does not read the file) and as learnt this run.
    private lazy var known: [String: String] = {
        guard let memo, let data = try? Data(contentsOf: memo) else { return [:] }
        return (try? JSONDecoder().decode([String: String].self, from: data)) ?? [:]
    }()
    private var learnt = false
    /// The most stamps kept: past it, only those this run used stay.
    private let limit = 50_000
    private var used: Set<String> = []

    init(memo: URL?) { self.memo = memo }

    /// `path`'s digest; with `folder`, that of the file and of its folder
    /// as a tree (what a playbook reads beside it), `.git` left out. A
    /// device or FIFO is refused: reading /dev/zero would never end.
    func digest(of path: String, folder: Bool = false) throws -> String {
        var info = stat()
        guard stat(path, &info) == 0 else { throw HostError(.environment, "\(path) does not exist") }
        let type = info.st_mode & S_IFMT
        guard type == S_IFREG || type == S_IFDIR else {
            throw HostError.usage("\(path) is neither a file nor a folder; give one of those")
        }
        let own = type == S_IFDIR ? try tree(path, skipping: []) : try file(path)
        guard folder else { return own }
        let around = try tree(URL(fileURLWithPath: path).deletingLastPathComponent().path, skipping: [".git"])
        return Digest.of("file \(own)\nfolder \(around)")
    }

    /// Writes what this run learnt, whole or not at all; best effort (a
    /// memo that cannot be written only costs reading the files again).
    func save() {
        guard learnt, let memo else { return }
        if known.count > limit { known = known.filter { used.contains($0.key) } }
        guard let data = try? JSONEncoder().encode(known) else { return }
        try? data.write(to: memo, options: .atomic)
        learnt = false
    }

    private func file(_ path: String) throws -> String {
        guard let stamp = FileIdentity.stamp(of: path) else { return try Digest.ofFile(path) }
        used.insert(stamp)
        if let digest = known[stamp] { return digest }
        let digest = try Digest.ofFile(path)
        // Stamped before and after: a file written while it was read is not remembered.
        if FileIdentity.stamp(of: path) == stamp {
            known[stamp] = digest
            learnt = true
        }
        return digest
    }

    private func tree(_ root: String, skipping: Set<String>) throws -> String {
        guard let walker = FileManager.default.enumerator(atPath: root) else {
            throw HostError(.environment, "cannot read the directory \(root)")
        }
        var lines: [String] = []
        while let relative = walker.nextObject() as? String {
            if skipping.contains((relative as NSString).lastPathComponent) {
                walker.skipDescendants()
                continue
            }
            let path = root + "/" + relative
            var info = stat()
            guard lstat(path, &info) == 0 else { throw HostError(.environment, "cannot read \(path)") }
            let mode = String(info.st_mode & 0o7777, radix: 8)
            switch info.st_mode & S_IFMT {
            case S_IFREG: lines.append("\(relative)\tfile\t\(mode)\t\(try file(path))")
            case S_IFDIR: lines.append("\(relative)\tdirectory\t\(mode)")
            case S_IFLNK:
                let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? ""
                lines.append("\(relative)\tsymlink\t\(target)")
            default: lines.append("\(relative)\tother\t\(mode)")
            }
        }
        return Digest.of(lines.sorted().joined(separator: "\n"))
    }
}
