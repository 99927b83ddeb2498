@testable import GuestAccess
import Testing

/// A port whose bytes are given in advance, as the guest wrote them: a
/// fixture for the relay, which needs no guest to be read.
private final class FixturePort: ByteChannel {
    private var chunks: [[UInt8]]
    init(_ chunks: [String]) { self.chunks = chunks.map { Array($0.utf8) } }
    func read(timeoutMs: Int64) throws -> [UInt8] { chunks.isEmpty ? [] : chunks.removeFirst() }
    func write(_ bytes: [UInt8]) throws {}
}

/// A command's stream on its output port, between its two markers.
struct OutputPortsTests {
    private func relayed(_ chunks: [String], marker: String) throws -> (String, ended: Bool) {
        var relay = PortRelay(stream: 1, port: FixturePort(chunks))
        var output: [UInt8] = []
        for _ in chunks where !relay.ended {
            _ = try relay.take(timeoutMs: 0, marker: Array(marker.utf8)) { stream, bytes in
                #expect(stream == 1)
                output += bytes
            }
        }
        return (String(decoding: output, as: UTF8.self), relay.ended)
    }

    /// An earlier command's output that its reader gave up on (a guest
    /// rebooting under it), still on the port, is not the next command's.
    @Test func whatAnEarlierCommandLeftIsDropped() throws {
        let (output, ended) = try relayed(["old boot id\nHOST-END-1", "HOST-END-2new ", "boot id\n", "HOST-END-2"], marker: "HOST-END-2")
        #expect(output == "new boot id\n")
        #expect(ended)
    }

    /// A marker split across reads is still found, and output is handed on
    /// as it comes, not only at the end.
    @Test func aSplitMarkerIsFound() throws {
        let (output, ended) = try relayed(["HOST-E", "ND-7abc", "defHOST-", "END-7"], marker: "HOST-END-7")
        #expect(output == "abcdef")
        #expect(ended)
        // Before the end, all but what may be the marker's first bytes.
        let line = "a line longer than the marker\n"
        let (partial, open) = try relayed(["HOST-END-7", line], marker: "HOST-END-7")
        #expect(partial == String(line.dropLast("HOST-END-7".count)))
        #expect(!open)
    }
}
