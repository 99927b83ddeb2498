import Foundation
import PluginKit

/// `podman attach` to the container's /bin/sh, kept open while host uses
/// the console, its output drained (DrainedOutput) so the shell never blocks
/// on a full pipe.
final class ContainerConsole {
    private let process = Process()
    private let input = Pipe()
    private let output: DrainedOutput

    init(podman: Podman, container: String) throws {
        let pipe = Pipe()
        process.executableURL = URL(fileURLWithPath: podman.executable)
        process.arguments = podman.globalFlags + ["attach", "--sig-proxy=false", container]
        process.environment = podman.environment
        process.standardInput = input
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        try? pipe.fileHandleForWriting.close()
        let reading = pipe.fileHandleForReading
        output = DrainedOutput {
            let chunk = reading.availableData
            return chunk.isEmpty ? nil : Array(chunk)
        }
    }

    /// Ends the attach session only; the shell in the container goes on.
    /// The output's reading thread then sees end of file and ends.
    func close() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    func write(_ bytes: [UInt8]) throws {
        try input.fileHandleForWriting.write(contentsOf: Data(bytes))
    }

    func read(into target: UnsafeMutableRawBufferPointer, timeoutMs: Int64) throws -> Int {
        guard let bytes = output.read(upTo: target.count, timeoutMs: timeoutMs) else {
            throw StepError("the container's console closed")
        }
        bytes.withUnsafeBytes { target.copyMemory(from: $0) }
        return bytes.count
    }
}
