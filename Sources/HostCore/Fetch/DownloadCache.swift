import ChildProcess
import Crypto
import Foundation
import HostModel

/// Files plugins fetch from the network (cloud images), kept under
/// `CACHE/downloads` by the digest they were verified against, so another
/// mirror or a later run finds them without downloading again. A download
/// grows in `downloads/partial` and is resumed from there after an
/// interruption; only a file whose digest matches is moved into place.
struct DownloadCache {
    let location: CacheLocation
    let output: Output

    var directory: URL { location.root.appendingPathComponent("downloads") }

    /// "sha256:HEX" or "sha512:HEX" (hex in either case).
    struct Checksum: Equatable {
        enum Algorithm: String { case sha256, sha512 }
        let algorithm: Algorithm
        let hex: String

        init(_ text: String) throws {
            let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2, let algorithm = Algorithm(rawValue: parts[0].lowercased()) else {
                throw HostError(.plugin, "checksum \"\(text)\" is not written as sha256:HEX or sha512:HEX")
            }
            let hex = parts[1].lowercased()
            let length = algorithm == .sha256 ? 64 : 128
            guard hex.count == length, hex.allSatisfy(\.isHexDigit) else {
                throw HostError(.plugin, "checksum \"\(text)\" is not \(length) hexadecimal digits")
            }
            self.algorithm = algorithm
            self.hex = hex
        }

        var name: String { "\(algorithm.rawValue)-\(hex)" }

        /// The digest of a file in this algorithm.
        func digest(ofFile path: String) throws -> String {
            switch algorithm {
            case .sha256: try Digest.ofFile(path, using: SHA256())
            case .sha512: try Digest.ofFile(path, using: SHA512())
            }
        }
    }

    /// The verified local copy of `url`, downloading (or resuming) it first
    /// when the cache has no file with this digest.
    func fetch(_ url: String, checksum: Checksum) throws -> String {
        let kept = directory.appendingPathComponent(checksum.name)
        func existing() -> String? {
            (try? FileManager.default.contentsOfDirectory(atPath: kept.path).first).flatMap { $0 }.map { kept.appendingPathComponent($0).path }
        }
        if let path = existing() { return path }
        let partialDirectory = directory.appendingPathComponent("partial")
        try Self.makeDirectory(partialDirectory)
        // One download per file at a time: a second run waits, then finds it.
        let lock = try FileLock(partialDirectory.appendingPathComponent(checksum.name + ".lock").path)
        try lock.lock(.exclusive) { output.progress("waiting for another run downloading \(url)") }
        defer { lock.unlock() }
        if let path = existing() { return path }

        let partial = partialDirectory.appendingPathComponent(checksum.name + ".part").path
        let resuming = FileManager.default.fileExists(atPath: partial)
        output.progress(resuming ? "resuming the download of \(url)" : "downloading \(url)")
        do {
            try Self.curl(url, to: partial, resume: true)
        } catch let error as CurlFailed where resuming && error.cannotResume {
            // The partial file is complete, or the server will not continue
            // it: start over once. (A network error keeps it for next time.)
            try? FileManager.default.removeItem(atPath: partial)
            try Self.curl(url, to: partial, resume: false)
        }
        var actual = try checksum.digest(ofFile: partial)
        if actual != checksum.hex && resuming {
            // The part kept from before may be what is wrong (the mirror
            // replaced the file): download it whole once before giving up.
            output.progress("the resumed download does not match its checksum; downloading it whole again")
            try? FileManager.default.removeItem(atPath: partial)
            try Self.curl(url, to: partial, resume: false)
            actual = try checksum.digest(ofFile: partial)
        }
        guard actual == checksum.hex else {
            try? FileManager.default.removeItem(atPath: partial)
            throw HostError(.stepFailed, """
                checksum mismatch for \(url): the published \(checksum.algorithm.rawValue) is \(checksum.hex), \
                the download's is \(actual). The download was deleted and nothing was cached; \
                check the mirror (--mirror), or try again if it was being updated
                """)
        }
        try Self.makeDirectory(kept)
        let final = kept.appendingPathComponent(Self.fileName(of: url))
        guard rename(partial, final.path) == 0 else {
            throw HostError(.environment, "cannot move the download into \(final.path): \(SystemErrorText.meaning(of: errno, path: final.path))")
        }
        return final.path
    }

    /// Deletes every kept and partial download no run is fetching now.
    func removeAll() -> (count: Int, bytes: Int64) {
        let partial = directory.appendingPathComponent("partial")
        let kept = ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).filter { $0 != "partial" }
        let cut = ((try? FileManager.default.contentsOfDirectory(atPath: partial.path)) ?? [])
            .filter { $0.hasSuffix(".part") }.map { String($0.dropLast(".part".count)) }
        var count = 0, bytes: Int64 = 0
        for name in Set(kept + cut) {
            guard let lock = try? FileLock(partial.appendingPathComponent(name + ".lock").path), lock.tryLock(.exclusive) else { continue }
            for file in [directory.appendingPathComponent(name), partial.appendingPathComponent(name + ".part")]
            where FileManager.default.fileExists(atPath: file.path) {
                bytes += CacheStore.diskUsage(file)
                try? FileManager.default.removeItem(at: file)
            }
            count += 1
        }
        return (count, bytes)
    }

    /// A fresh copy of a small file (an index, a checksum list) in `scratch`.
    func fetchUnverified(_ url: String, into scratch: URL) throws -> String {
        let target = scratch.appendingPathComponent(UUID().uuidString + "-" + Self.fileName(of: url)).path
        try Self.curl(url, to: target, resume: false, quietly: true)
        return target
    }

    private static func fileName(of url: String) -> String {
        let last = url.split(separator: "?").first.map { $0.split(separator: "/").last.map(String.init) ?? "" } ?? ""
        let safe = last.filter { $0.isLetter || $0.isNumber || "._-+".contains($0) }
        return safe.isEmpty || safe.hasPrefix(".") ? "download" : safe
    }

    private static func makeDirectory(_ url: URL) throws {
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw HostError(system: error)
        }
    }

    private static func curl(_ url: String, to path: String, resume: Bool, quietly: Bool = false) throws {
        let curl: String
        do { curl = try Command.find("curl", package: "curl") } catch { throw HostError(.environment, "downloading needs \(error)") }
        // Progress only for a person watching; logs and pipes get errors alone.
        let showProgress = !quietly && isatty(STDERR_FILENO) == 1
        // An https URL stays https through redirects: the checksum file is
        // what the image is trusted by.
        let protocols = url.lowercased().hasPrefix("https:") ? "=https" : "=http,https"
        var command = Command(curl, ["--fail", "--location", "--proto", protocols, "--proto-redir", protocols, "--retry", "2", "--output", path]
            + (resume ? ["--continue-at", "-"] : []) + (showProgress ? ["--progress-bar"] : ["--silent", "--show-error"]) + ["--", url])
        // curl dies with host (Ctrl-C, SIGKILL) rather than writing on into
        // a partial file that the next run resumes.
        command.diesWithHost = true
        command.error = showProgress ? .terminal : .pipe
        var message: [UInt8] = []
        let ending = try command.run { _, bytes in message += bytes }
        guard ending == .exited(0) else {
            // curl says it again on every retry: its last line is the reason.
            let reason = String(decoding: message, as: UTF8.self).split(separator: "\n")
                .last { !$0.trimmingCharacters(in: .whitespaces).isEmpty }.map(String.init) ?? ""
            throw CurlFailed(status: ending.status,
                             description: "could not download \(url)" + (reason.isEmpty ? " (curl status \(ending.status))" : ": \(reason)"))
        }
    }

    struct CurlFailed: Error, CustomStringConvertible {
        let status: Int32
        let description: String
        /// 33: the server cannot continue at the offset; 36: bad resume;
        /// 22: an HTTP error such as 416 (the range is past the end).
        var cannotResume: Bool { [22, 33, 36].contains(status) }
    }
}
