import Foundation
import PluginKit

/// `podman attach` to the container's /bin/sh, kept open while host uses
/// the console. Its output is drained by a thread of its own into a buffer
/// (the newest `limit` bytes), so the shell never blocks on a full pipe.
final class ContainerConsole: @unchecked Sendable {
    static let limit = 1 << 20
    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private let condition = NSCondition()
    private var buffer: [UInt8] = []
    private var closed = false

    init(podman: Podman, container: String) throws {
        process.executableURL = URL(fileURLWithPath: podman.executable)
        process.arguments = podman.globalFlags + ["attach", "--sig-proxy=false", container]
        process.environment = podman.environment
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
        try? output.fileHandleForWriting.close()
        let reading = output.fileHandleForReading
        Thread { [self] in
            while true {
                let chunk = reading.availableData
                condition.lock()
                if chunk.isEmpty { closed = true } else {
                    buffer += chunk
                    if buffer.count > Self.limit { buffer.removeFirst(buffer.count - Self.limit / 2) }
                }
                condition.broadcast()
                condition.unlock()
                if chunk.isEmpty { return }
            }
        }.start()
    }

    /// Ends the attach session only; the shell in the container goes on.
    /// The reading thread then sees end of file and lets go of this object.
    func close() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    func write(_ bytes: [UInt8]) throws {
        try input.fileHandleForWriting.write(contentsOf: Data(bytes))
    }

    func read(into target: UnsafeMutableRawBufferPointer, timeoutMs: Int64) throws -> Int {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date().addingTimeInterval(Double(timeoutMs) / 1000)
        while buffer.isEmpty && !closed && condition.wait(until: deadline) {}
        if buffer.isEmpty && closed { throw StepError("the container's console closed") }
        let count = min(target.count, buffer.count)
        buffer.withUnsafeBytes { target.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[..<count])) }
        buffer.removeFirst(count)
        return count
    }
}
