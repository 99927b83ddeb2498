import Foundation
@testable import HostModel
import Testing
@testable import HostCore

@Suite struct GrammarTests {
    @Test func plusSplitsSteps() throws {
        let steps = try PipelineParser.split(["os.debian", "+", "ansible", "package", "--name=patch", "+", "ssh"])
        #expect(steps.map(\.name) == ["os.debian", "ansible", "ssh"])
        #expect(steps[1].words == ["package", "--name=patch"])
        #expect(try PipelineParser.split(["exec", "expr", "1", "++", "2"])[0].words == ["expr", "1", "+", "2"])
    }

    @Test func emptyStepsAreUsageErrors() {
        #expect(throws: HostError.self) { try PipelineParser.split(["a", "+", "+", "b"]) }
        #expect(throws: HostError.self) { try PipelineParser.split(["+", "b"]) }
    }

    @Test func canonicalValuesAreTyped() {
        #expect(ArgumentValue.string("1").canonical != ArgumentValue.int(1).canonical)
        #expect(ArgumentValue.list(["a\"b"]).canonical == "[\"a\\\"b\"]")
    }

    @Test func nearestNames() {
        #expect(PluginIndex.distance("self_test.cont", "self_test.count") == 1)
        #expect(PluginIndex.distance("", "abc") == 3)
    }
}
