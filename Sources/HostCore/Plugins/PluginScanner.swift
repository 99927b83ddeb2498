import ChildProcess
import Foundation
import HostModel
import PluginABI

/// Reads new or changed plugin files in a child process (`host
/// __scan-plugins FILE...`, as GStreamer's gst-plugin-scanner does), so that
/// a plugin whose library constructor or entry function crashes or hangs is
/// recorded as failed and never takes host down. One child reads every
/// file of a run; after a crash or a hang a new one goes on with the rest.
public enum PluginScanner {
    /// How long one plugin may take to load before it counts as hung.
    static let timeLimit: TimeInterval = 10

    /// One line the child writes per event, as JSON.
    private struct Line: Codable {
        var begin: String?
        var record: PluginIndexFile.Record?
    }

    // MARK: The child

    /// Scans `paths`, writing for each a line before it loads the file and
    /// one with what it found; exits when done. A crash ends the process
    /// right after the `begin` line of the file that caused it.
    public static func serve(_ paths: [String]) -> Never {
        // The lines go out on a copy of standard output, which itself goes
        // where standard error does: a plugin printing while it loads
        // cannot garble them.
        let channel = FileHandle(fileDescriptor: dup(1), closeOnDealloc: true)
        dup2(2, 1)
        for path in paths {
            emit(Line(begin: path), to: channel)
            emit(Line(record: scan(path)), to: channel)
        }
        exit(0)
    }

    private static func emit(_ line: Line, to channel: FileHandle) {
        guard var data = try? JSONEncoder().encode(line) else { return }
        data.append(10)
        channel.write(data) // unbuffered: each line is out before the next file loads
    }

    private static func scan(_ path: String) -> PluginIndexFile.Record {
        guard let identity = FileIdentity(path) else { return PluginIndexFile.Record(path: path, identity: nil, failure: "it cannot be read") }
        var record = PluginIndexFile.Record(path: path, identity: identity)
        do {
            let descriptor = try DescriptorReader.load(path)
            record.scanned = .init(name: descriptor.name, version: descriptor.version, digest: try Digest.ofFile(path),
                                   steps: descriptor.steps)
        } catch let error as DescriptorReader.Invalid {
            record.failure = error.reason
        } catch {
            // dlopen's own failure: often a library the plugin needs, which
            // an apt-get install may bring later.
            record.failure = String(describing: error)
            record.retryable = true
        }
        return record
    }

    // MARK: The parent

    /// Records for `paths`, scanned by children of `executable`.
    static func scan(_ paths: [String], executable: String) -> [PluginIndexFile.Record] {
        var records: [String: PluginIndexFile.Record] = [:]
        var remaining = paths
        while !remaining.isEmpty {
            let (found, culprit, why) = runChild(executable, remaining)
            for record in found { records[record.path] = record }
            let done = Set(found.map(\.path))
            if let culprit {
                records[culprit] = PluginIndexFile.Record(path: culprit, identity: FileIdentity(culprit), failure: why)
            } else if found.count < remaining.count {
                // The child failed before it named a file: nothing to blame, nothing to retry.
                for path in remaining where !done.contains(path) {
                    records[path] = PluginIndexFile.Record(path: path, identity: FileIdentity(path),
                                                         failure: "the plugin scanner did not run: \(why)", retryable: true, unscanned: true)
                }
                break
            }
            remaining = remaining.filter { !done.contains($0) && $0 != culprit }
        }
        return paths.compactMap { records[$0] }
    }

    /// One child over `paths`: what it recorded, and the file it was loading
    /// when it crashed or hung (with why), if it did.
    private static func runChild(_ executable: String, _ paths: [String]) -> ([PluginIndexFile.Record], String?, String) {
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFT_BACKTRACE"] = "enable=no" // a crash is expected here, and reported by name
        var command = Command(executable, ["__scan-plugins"] + paths, environment: environment)
        command.output = .pipe
        command.error = .null
        command.diesWithHost = true
        let child: RunningChild
        do { child = try command.start() } catch { return ([], nil, String(describing: error)) }
        guard let fd = child.output else { return ([], nil, "no pipe from the scanner") }
        var records: [PluginIndexFile.Record] = [], loading: String?, pending = Data()
        var deadline = Date().addingTimeInterval(timeLimit)
        var buffer = [UInt8](repeating: 0, count: 65536)
        // A file that takes long is named after a second, so that a wait of
        // up to timeLimit is never silent.
        var slowAfter = Date().addingTimeInterval(1), announced = false
        let hung = "it did not finish loading within \(Int(timeLimit)) s (its library constructor or \(HOST_PLUGIN_ENTRY_V1) hangs, or this machine is very busy); fix or remove the file"
        while true {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let wake = announced || loading == nil ? deadline : min(deadline, slowAfter)
            let ready = poll(&poller, 1, Int32(max(0, wake.timeIntervalSinceNow) * 1000))
            if let loading, !announced, Date() >= slowAfter {
                StandardStream.error.write("host: scanning the plugin \(TerminalText.escaped(loading)) (new or changed; it may take up to \(Int(timeLimit)) s to load)\n")
                announced = true
            }
            if ready == 0 && Date() < deadline { continue }
            if ready == 0 || Date() > deadline {
                child.kill()
                child.wait()
                return (records, loading, hung)
            }
            if ready < 0 { if errno == EINTR { continue }; break }
            let count = read(fd, &buffer, buffer.count)
            if count <= 0 { break }
            pending.append(contentsOf: buffer.prefix(count))
            while let newline = pending.firstIndex(of: 10) {
                let line = try? JSONDecoder().decode(Line.self, from: pending[pending.startIndex..<newline])
                pending = Data(pending[(newline + 1)...])
                if let begin = line?.begin {
                    loading = begin
                    deadline = Date().addingTimeInterval(timeLimit)
                    slowAfter = Date().addingTimeInterval(1)
                    announced = false
                }
                if let record = line?.record { records.append(record); loading = nil }
                // Anything else is a plugin writing to standard output while it loads: not ours.
            }
        }
        // The pipe is closed; the child itself gets the same deadline to end.
        while child.isRunning && Date() < deadline { usleep(10_000) }
        if child.isRunning {
            child.kill()
            child.wait()
            return (records, loading, hung)
        }
        switch child.wait() {
        case let .killed(signal):
            return (records, loading, "it crashed with signal \(signal) (\(String(cString: strsignal(signal)))) while loading (in a library constructor or \(HOST_PLUGIN_ENTRY_V1)); fix or remove the file")
        case let ending where loading != nil:
            return (records, loading, "it ended the process (exit status \(ending.status)) while loading (its library constructor or \(HOST_PLUGIN_ENTRY_V1) called exit); a plugin must return, never exit; fix or remove the file")
        case let ending:
            return (records, loading, "the plugin scanner exited with status \(ending.status)")
        }
    }
}
