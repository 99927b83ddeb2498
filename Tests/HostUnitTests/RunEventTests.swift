import Foundation
import Testing
@testable import HostCore

/// The facts a run reports: the English a person reads is made from the
/// same value `--json` prints, so the two never disagree.
@Suite struct RunEventTests {
    static let key = String(repeating: "ab", count: 32)

    @Test func eachFactReadsAsBefore() {
        #expect(RunEvent(.reused, step: "exec", key: Self.key).text == "exec: cached abababababab")
        #expect(RunEvent(.reused, step: "exec", key: Self.key, by: "another run").text == "exec: built by another run abababababab")
        #expect(RunEvent(.built, step: "exec", key: Self.key, seconds: 1.234).text == "exec: built in 1.23 s, abababababab")
        #expect(RunEvent(.built, step: "x", key: Self.key, seconds: 2, checkpoint: "installed").text == "x: installed saved in 2.00 s, abababababab")
        #expect(RunEvent(.rebuilding, step: "exec", reason: "it expired").text == "exec: rebuilding: it expired")
        #expect(RunEvent(.message, step: "ansible", message: "TASK [package]").text == "ansible: TASK [package]")
        #expect(RunEvent(.error, message: "unknown step x", exit: 64).text == "error: unknown step x")
    }

    @Test func jsonKeepsEveryFieldAndNoneItLacks() throws {
        let event = RunEvent(.built, step: "exec", key: Self.key, entry: "/c/machines/k", seconds: 1.2345)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let object = try #require(try JSONSerialization.jsonObject(with: encoder.encode(event)) as? [String: Any])
        #expect(Set(object.keys) == ["event", "step", "key", "entry", "seconds"])
        #expect(object["event"] as? String == "built" && object["seconds"] as? Double == 1.23)
        #expect(try JSONDecoder().decode(RunEvent.self, from: encoder.encode(event)) == RunEvent(.built, step: "exec", key: Self.key, entry: "/c/machines/k", seconds: 1.23))
    }
}
