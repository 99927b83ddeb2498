import Foundation

/// Runs a program with its output streamed chunk by chunk as it comes, both
/// pipes drained together with poll(2) so neither can fill and stall it.
public enum Streamer {
    public struct Result {
        public let status: Int32
        public let errorText: String
    }

    public static func run(_ executable: String, _ arguments: [String], input: URL? = nil, environment: [String: String]? = nil,
                           output: (Int32, [UInt8]) -> Void) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = try input.map { try FileHandle(forReadingFrom: $0) } ?? FileHandle.nullDevice
        try process.run()
        try? out.fileHandleForWriting.close()
        try? err.fileHandleForWriting.close()
        var open: [(Int32, Int32)] = [(out.fileHandleForReading.fileDescriptor, 1), (err.fileHandleForReading.fileDescriptor, 2)]
        var errorText: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !open.isEmpty {
            var polls = open.map { pollfd(fd: $0.0, events: Int16(POLLIN), revents: 0) }
            guard poll(&polls, nfds_t(polls.count), -1) >= 0 || errno == EINTR else { break }
            for (index, entry) in polls.enumerated().reversed() where entry.revents != 0 {
                let count = read(entry.fd, &buffer, buffer.count)
                if count > 0 {
                    let chunk = Array(buffer.prefix(count))
                    if open[index].1 == 2 { errorText += chunk }
                    output(open[index].1, chunk)
                } else if count == 0 || errno != EINTR {
                    open.remove(at: index)
                }
            }
        }
        process.waitUntilExit()
        let status = process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
        return Result(status: status, errorText: String(decoding: errorText.suffix(2000), as: UTF8.self))
    }
}
