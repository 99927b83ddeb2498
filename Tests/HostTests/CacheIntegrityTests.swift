import Foundation
@testable import HostCore
import Testing

/// A damaged or half-written cache entry never traps a user: it is found
/// (a manifest that does not fit, a file missing, cut short, changed or
/// swapped), said in one message, and rebuilt; a restore that fails with
/// intact files is reported and kept. On the fixture backend: no VM.
@Suite struct CacheIntegrityTests {
    static let pipeline = ["backend.fixture", "+", "exec", "echo saved > a; echo other > b", "+", "exec", "cat a"]

    /// A sandbox with one saved step, and that step's entry directory.
    func saved() throws -> (Sandbox, URL) {
        let sandbox = try Sandbox()
        let first = try sandbox.succeed(["--json"] + Self.pipeline)
        #expect(first.out == "saved\n")
        return (sandbox, try sandbox.builtEntry(first, step: "exec"))
    }

    func expectRebuilt(_ sandbox: Sandbox, because reason: String) throws {
        let run = try sandbox.succeed(["--json"] + Self.pipeline)
        #expect(run.rebuilt("exec")?.contains("\(reason)") == true, "\(run.err)")
        #expect(run.out == "saved\n")
        let again = try sandbox.succeed(["--json"] + Self.pipeline)
        #expect(again.reused("exec"), "\(again.err)")
    }

    @Test(arguments: ["missing", "empty", "shorter", "changed", "swapped"])
    func aDamagedFileIsRebuilt(_ damage: String) throws {
        let (sandbox, entry) = try saved()
        let file = entry.appendingPathComponent("machine/root/a")
        switch damage {
        case "missing": try FileManager.default.removeItem(at: file)
        case "empty": try Data().write(to: file)
        case "shorter": try Data("sav".utf8).write(to: file)
        case "changed": try Data("SAVED\n".utf8).write(to: file) // the same size
        default: try FileManager.default.copyItem(at: entry.appendingPathComponent("machine/root/b"), to: file.appendingPathExtension("b"))
            try FileManager.default.removeItem(at: file)
            try FileManager.default.moveItem(at: file.appendingPathExtension("b"), to: file)
        }
        let reason = switch damage {
        case "missing": "damaged: machine/root/a is missing"
        case "empty": "damaged: machine/root/a is 0 bytes, not the 6 it was saved with"
        case "shorter": "damaged: machine/root/a is 3 bytes, not the 6 it was saved with"
        default: "damaged: machine/root/a is not the file it was saved as (its SHA-256 differs)"
        }
        try expectRebuilt(sandbox, because: reason)
    }

    /// A sparse file's digest is of its bytes, not of where the filesystem
    /// keeps holes: the same bytes written out in full hash the same; one
    /// byte changed in a data page, or the size, does not.
    @Test func aSparseFilesDigestIsOfItsBytesAlone() throws {
        let sandbox = try Sandbox()
        let sparse = sandbox.file("sparse").path, full = sandbox.file("full").path
        var bytes = Data(count: 1 << 20)
        bytes[300_000] = 7
        bytes[900_001] = 9
        try bytes.write(to: URL(fileURLWithPath: full))
        // The same bytes with holes: only two pages written, into a file of the full size.
        let fd = open(sparse, O_WRONLY | O_CREAT, 0o600)
        #expect(ftruncate(fd, off_t(bytes.count)) == 0)
        for offset in [300_000, 900_001] { #expect(pwrite(fd, [bytes[offset]], 1, off_t(offset)) == 1) }
        close(fd)
        var info = stat()
        #expect(stat(sparse, &info) == 0 && SparseDigest.isSparse(info))
        #expect(try SparseDigest.of(sparse) == SparseDigest.of(full))
        bytes[300_001] = 1
        try bytes.write(to: URL(fileURLWithPath: full))
        #expect(try SparseDigest.of(sparse) != SparseDigest.of(full))
        bytes[300_001] = 0
        bytes.append(0)
        try bytes.write(to: URL(fileURLWithPath: full))
        #expect(try SparseDigest.of(sparse) != SparseDigest.of(full))
    }

    @Test func aManifestThatDoesNotFitIsRebuilt() throws {
        let (sandbox, entry) = try saved()
        let manifest = entry.appendingPathComponent("manifest.json")
        let text = try String(contentsOf: manifest, encoding: .utf8)
        let other = String(repeating: "ab", count: 32)
        try text.replacingOccurrences(of: entry.lastPathComponent, with: other).write(to: manifest, atomically: true, encoding: .utf8)
        try expectRebuilt(sandbox, because: "damaged: its manifest names key \(other.prefix(12)), not its own \(entry.lastPathComponent.prefix(12))")
    }

    @Test func cacheVerifyNamesTheDamagedFile() throws {
        let (sandbox, entry) = try saved()
        #expect(try sandbox.succeed(["cache", "verify", "--all"]).out.contains("intact"))
        try Data("SAVED\n".utf8).write(to: entry.appendingPathComponent("machine/root/a"))
        let verify = try sandbox.run(["cache", "verify", "--all"])
        #expect(verify.status == 1)
        #expect(verify.out.contains("\(entry.lastPathComponent.prefix(12))  damaged: machine/root/a is not the file it was saved as"), "\(verify.out)")
        try expectRebuilt(sandbox, because: "damaged: machine/root/a is not the file it was saved as")
    }

    @Test func aRestoreThatFailsWithIntactFilesIsReportedAndKept() throws {
        let (sandbox, _) = try saved()
        _ = try sandbox.succeed(Self.pipeline) // its first use checks its digests
        let before = try sandbox.cacheSnapshot()
        let failed = try sandbox.run(Self.pipeline, extraEnvironment: ["HOST_FIXTURE_FAIL_RESTORE": "1"])
        #expect(failed.status != 0)
        #expect(failed.err.contains("this restore fails on purpose"))
        #expect(failed.err.contains("the saved machine's files are intact, so the cause lies elsewhere"), "\(failed.err)")
        #expect(try sandbox.cacheSnapshot() == before)
        #expect(try sandbox.succeed(["--json"] + Self.pipeline).reused("exec"))
    }

    @Test func leftoversOfDeadRunsAreSwept() throws {
        let sandbox = try Sandbox()
        _ = try sandbox.succeed(["backend.fixture"]) // makes the private machines/.tmp
        let orphan = sandbox.cache.appendingPathComponent("machines/.tmp/0d0d0d0d-dead-run-without-lock")
        try FileManager.default.createDirectory(at: orphan.appendingPathComponent("machine"), withIntermediateDirectories: true)
        _ = try sandbox.succeed(["backend.fixture", "+", "exec", "true"])
        #expect(!FileManager.default.fileExists(atPath: orphan.path))
    }
}
