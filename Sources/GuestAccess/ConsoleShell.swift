import Foundation
import PluginKit

/// Runs commands through a shell on the serial console, for guests with no
/// SSH server. The command travels base64-encoded (no quoting, no line
/// editing surprises), in lines the guest acknowledges one by one so the
/// tty's input buffer never overflows, and its output is framed by markers
/// printed with `printf 'HOST%s'` so the echo of the typed line never
/// matches them. The console merges stderr into stdout.
struct ConsoleShell {
    let console: ByteChannel
    /// Console bytes that arrived but belong to no command (boot messages,
    /// prompts); kept for expect.
    var spill: (ArraySlice<UInt8>) -> Void

    /// Well below the 1024 characters busybox ash's line editor accepts per line.
    private static let chunk = 768

    func run(_ command: String, output: ([UInt8]) -> Void) throws -> Int32 {
        let id = String(UInt64.random(in: 0...UInt64.max), radix: 36)
        let encoded = Data(command.utf8).base64EncodedString()
        let begin = "printf 'HOST%s\\n' BEGIN-\(id)", end = "printf 'HOST%s:%s\\n' END-\(id) $?"
        // A short command (most are) goes in the line that runs it: one
        // round trip through the console. It runs in a subshell of the
        // console's shell (a fork, no exec: each exec costs tens of
        // milliseconds in an emulated guest), so its cd, variables and exit
        // stay its own; printable text goes as it is, in single quotes.
        let quoted = "'" + command.replacingOccurrences(of: "'", with: "'\\''") + "'"
        if command.utf8.allSatisfy({ (0x20...0x7e).contains($0) }), quoted.utf8.count <= Self.chunk {
            try type("\(begin); (eval \(quoted)) </dev/null 2>&1; \(end)")
        } else if encoded.count <= Self.chunk {
            try type("\(begin); (eval \"$(printf %s \(encoded) | base64 -d)\") </dev/null 2>&1; \(end)")
        } else {
            let file = "/tmp/.host-\(id)"
            var offset = encoded.startIndex
            var part = 0
            repeat {
                let next = encoded.index(offset, offsetBy: Self.chunk, limitedBy: encoded.endIndex) ?? encoded.endIndex
                try type("printf %s \(encoded[offset..<next]) >> \(file); printf 'HOST%s\\n' ACK-\(id)-\(part)")
                _ = try read(until: Array("HOSTACK-\(id)-\(part)\r\n".utf8))
                offset = next
                part += 1
            } while offset < encoded.endIndex
            try type("base64 -d \(file) > \(file).sh; \(begin); sh \(file).sh </dev/null 2>&1; \(end); rm -f \(file) \(file).sh")
        }
        var pending = try read(until: Array("HOSTBEGIN-\(id)\r\n".utf8))
        let endMarker = Array("HOSTEND-\(id):".utf8)
        while true {
            if let found = pending.firstRange(of: endMarker) {
                output(Self.unixLines(pending[..<found.lowerBound]))
                var rest = Array(pending[found.upperBound...])
                while !rest.contains(10) { rest += try console.read(timeoutMs: 60_000) }
                let digits = rest.prefix { $0 >= 48 && $0 <= 57 }
                return Int32(String(decoding: digits, as: UTF8.self)) ?? 255
            }
            // Hand out what cannot be part of the marker yet, holding back a
            // trailing \r whose \n may come next.
            var safe = pending.count - endMarker.count
            if safe > 0 && pending[safe - 1] == 13 { safe -= 1 }
            if safe > 0 {
                output(Self.unixLines(pending[..<safe]))
                pending.removeFirst(safe)
            }
            pending += try console.read(timeoutMs: 60_000)
        }
    }

    private func type(_ line: String) throws {
        try console.write(Array((line + "\n").utf8))
    }

    /// Reads until `marker`, giving what came before it to `spill`.
    private func read(until marker: [UInt8]) throws -> [UInt8] {
        var seen: [UInt8] = []
        while true {
            if let found = seen.firstRange(of: marker) {
                spill(seen[..<found.lowerBound])
                return Array(seen[found.upperBound...])
            }
            seen += try console.read(timeoutMs: 60_000)
        }
    }

    /// The tty turns \n into \r\n; undo it.
    static func unixLines(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == 13, bytes.index(after: index) < bytes.endIndex, bytes[bytes.index(after: index)] == 10 {
                index = bytes.index(after: index)
                continue
            }
            result.append(byte)
            index = bytes.index(after: index)
        }
        return result
    }
}
