import Foundation
import PluginKit
import PluginSupport

/// `podman attach` to the container's /bin/sh, kept open while host uses
/// the console, its output drained (DrainedOutput) so the shell never blocks
/// on a full pipe.
final class ContainerConsole {
    private let attach: RunningChild
    private let output: DrainedOutput

    init(podman: Podman, container: String) throws {
        var command = Command(podman.executable, podman.globalFlags + ["attach", "--sig-proxy=false", container], environment: podman.environment)
        command.input = .pipe
        command.output = .pipe
        command.diesWithHost = true
        let attach = try command.start()
        self.attach = attach
        // The drain's thread holds `attach` too, so its descriptor stays open
        // (and never becomes another file's) until the thread has read the end.
        output = DrainedOutput {
            var buffer = [UInt8](repeating: 0, count: 65536)
            let count = Glibc.read(attach.output ?? -1, &buffer, buffer.count)
            return count > 0 ? Array(buffer.prefix(count)) : nil
        }
    }

    /// Ends the attach session only; the shell in the container goes on.
    /// The output's reading thread then sees end of file and ends.
    func close() {
        attach.kill()
        attach.wait()
    }

    func write(_ bytes: [UInt8]) throws {
        guard let fd = attach.input else { throw StepError("the container's console is closed") }
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw StepError("the container's console closed: \(String(cString: strerror(errno)))") }
            sent += count
        }
    }

    func read(into target: UnsafeMutableRawBufferPointer, timeoutMs: Int64) throws -> Int {
        guard let bytes = output.read(upTo: target.count, timeoutMs: timeoutMs) else {
            throw StepError("the container's console closed")
        }
        bytes.withUnsafeBytes { target.copyMemory(from: $0) }
        return bytes.count
    }
}
