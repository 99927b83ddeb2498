import Foundation
import PluginKit

/// Runs commands through a shell on the serial console, for guests with no
/// SSH server. The command travels base64-encoded (no quoting, no line
/// editing surprises), in lines the guest acknowledges one by one so the
/// tty's input buffer never overflows, and its output is framed by markers
/// printed with `printf 'HOST%s'` so the echo of the typed line never
/// matches them. The output comes through the guest's output ports when
/// it has them, stdout and stderr apart; on the console, stderr is merged
/// into stdout.
struct ConsoleShell {
    let console: ByteChannel
    /// The guest's output ports, when the backend gave it them: a console
    /// shell that holds them open on descriptors 9 (host.stdout) and 8
    /// (host.stderr), as os.busybox's init leaves them, gets each command's
    /// output through them; one that does not (a guest made before it had
    /// them) through the console as before.
    let ports: OutputPorts?
    /// Console bytes that arrived but belong to no command (boot messages,
    /// prompts); kept for expect.
    var spill: (ArraySlice<UInt8>) -> Void

    /// Below the 1024 characters busybox ash's line editor accepts per
    /// line, with room for the framing around the command.
    private static let chunk = 640

    func run(_ command: String, output: (Int32, [UInt8]) -> Void) throws -> Int32 {
        let id = String(UInt64.random(in: 0...UInt64.max), radix: 36)
        let encoded = Data(command.utf8).base64EncodedString()
        // A short command (most are) goes in the line that runs it: one
        // round trip through the console. It runs in a subshell of the
        // console's shell (a fork, no exec: each exec costs tens of
        // milliseconds in an emulated guest), so its cd, variables and exit
        // stay its own; printable text goes as it is, in single quotes.
        let quoted = "'" + command.replacingOccurrences(of: "'", with: "'\\''") + "'"
        if command.utf8.allSatisfy({ (0x20...0x7e).contains($0) }), quoted.utf8.count <= Self.chunk {
            try type(framed("(eval \(quoted)) </dev/null", id: id))
        } else if encoded.count <= Self.chunk {
            try type(framed("(eval \"$(printf %s \(encoded) | base64 -d)\") </dev/null", id: id))
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
            try type("base64 -d \(file) > \(file).sh; \(framed("sh \(file).sh </dev/null", id: id)); rm -f \(file) \(file).sh")
        }
        // "HOSTBEGIN-ID:9" when the output goes to the ports, ":1" when it
        // comes on the console.
        var pending = try read(until: Array("HOSTBEGIN-\(id):".utf8))
        while !pending.contains(10) { pending += try console.read(timeoutMs: 60_000) }
        let throughPorts = pending.first == UInt8(ascii: "9")
        pending.removeFirst((pending.firstIndex(of: 10) ?? 0) + 1)
        let endMarker = Array("HOSTEND-\(id):".utf8)
        guard throughPorts, let ports else { return try consoleOutput(pending, until: endMarker) { output(1, $0) } }
        return try portOutput(ports, marker: Array(Self.portMarker(id).utf8), console: pending, until: endMarker, output)
    }

    /// Marks the start and end of a command's output on each port.
    private static func portMarker(_ id: String) -> String { "HOSTPORT-\(id)" }

    /// `run` (a command with its input) between the markers `run` reads:
    /// its output on the ports when the shell has them open (writing the
    /// start marker to both proves it), else on the console, stderr merged.
    private func framed(_ run: String, id: String) -> String {
        let begin = "printf 'HOST%s:%s\\n' BEGIN-\(id)", end = "printf 'HOST%s:%s\\n' END-\(id)"
        guard ports != nil else { return "\(begin) 1; \(run) 2>&1; \(end) $?" }
        let marker = Self.portMarker(id)
        return "if { printf %s \(marker) >&9 && printf %s \(marker) >&8; } 2>/dev/null; then o=9 e=8; else o=1 e=1; fi; "
            + "\(begin) $o; \(run) >&$o 2>&$e; s=$?; [ $o = 1 ] || { printf %s \(marker) >&9; printf %s \(marker) >&8; }; \(end) $s"
    }

    /// The command's output on the console, up to `endMarker` and its status.
    private func consoleOutput(_ start: [UInt8], until endMarker: [UInt8], _ output: ([UInt8]) -> Void) throws -> Int32 {
        var pending = start
        while true {
            if let found = pending.firstRange(of: endMarker) {
                output(Self.unixLines(pending[..<found.lowerBound]))
                return try status(after: Array(pending[found.upperBound...]))
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

    /// The command's output on the ports, each up to its second `marker`,
    /// while the console says when it ended and with what status; what else
    /// the console shows meanwhile (a process left running) is spill.
    private func portOutput(_ ports: OutputPorts, marker: [UInt8], console start: [UInt8], until endMarker: [UInt8],
                            _ output: (Int32, [UInt8]) -> Void) throws -> Int32 {
        var relays = ports.relays(opened: false)
        var pending = start
        var status: Int32?
        // The shell writes the end markers before its status line: once
        // that has come, they are on their way.
        var deadline = Date.distantFuture
        while status == nil || relays.contains(where: { !$0.ended }) {
            var arrived = false
            for index in relays.indices where !relays[index].ended {
                arrived = try relays[index].take(timeoutMs: 5, marker: marker, output) || arrived
            }
            if status == nil {
                pending += try console.read(timeoutMs: arrived ? 0 : 5)
                if let found = pending.firstRange(of: endMarker) {
                    spill(pending[..<found.lowerBound])
                    status = try self.status(after: Array(pending[found.upperBound...]))
                    deadline = Date().addingTimeInterval(10)
                }
            } else if Date() > deadline {
                throw StepError("the command's output did not end on its port in 10 s after the command ended")
            }
        }
        return status ?? 255
    }

    /// The status digits after the end marker, read up to the line's end.
    private func status(after start: [UInt8]) throws -> Int32 {
        var rest = start
        while !rest.contains(10) { rest += try console.read(timeoutMs: 60_000) }
        let digits = rest.prefix { $0 >= 48 && $0 <= 57 }
        return Int32(String(decoding: digits, as: UTF8.self)) ?? 255
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
