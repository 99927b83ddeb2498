import Foundation
@testable import HostCore
@testable import HostModel
import Testing

/// Command-line words to typed values, per parameter kind, and every error
/// the binder says (each a usage error, exit 64).
@Suite struct BinderTests {
    static let kinds = Catalog.step("kinds", [
        Catalog.parameter("text", .string),
        Catalog.parameter("count", .int, default: "1", range: 1...10),
        Catalog.parameter("flag", .bool, default: "false"),
        Catalog.parameter("ratio", .double, default: "0.5", namedOnly: true, realRange: 0...1),
        Catalog.parameter("item", .list, default: "", namedOnly: true),
        Catalog.parameter("port", .int, default: "0", runtime: true, namedOnly: true),
        Catalog.parameter("rest", .rest, default: ""),
    ])
    static let pairs = Catalog.step("pairs", [Catalog.parameter("name", .string, default: "x"), Catalog.parameter("extra", .kwargs)])
    static let files = Catalog.step("files", [Catalog.parameter("file", .path)])
    static let registry = Catalog.registry([kinds, pairs, files])

    private func bind(_ step: String, _ words: [String]) throws -> BoundArguments {
        try ArgumentBinder.bind(words, to: try Self.registry.step(named: step))
    }

    private func values(_ step: String, _ words: [String]) throws -> [ArgumentValue] { try bind(step, words).values }

    @Test func positionalWordsFillTheParametersInOrderAndTheRestTakesWhatIsLeft() throws {
        #expect(try values("kinds", ["hi", "3", "yes", "a", "b"]) == [.string("hi"), .int(3), .bool(true), .double(0.5), .list([]), .int(0), .list(["a", "b"])])
        // Named-only parameters are never filled by position.
        #expect(try values("kinds", ["hi", "--item=x", "--item=y", "--ratio=0.25"])[3...4] == [.double(0.25), .list(["x", "y"])])
    }

    @Test func boolsTakeFlagNoFlagAndWords() throws {
        #expect(try values("kinds", ["t", "--flag"])[2] == .bool(true))
        #expect(try values("kinds", ["t", "--no-flag"])[2] == .bool(false))
        #expect(try values("kinds", ["t", "--flag=off"])[2] == .bool(false))
        #expect(usageError { try self.values("kinds", ["t", "--flag=maybe"]) } != nil)
    }

    @Test func numbersAreCheckedForTypeAndRange() {
        #expect(usageError { try self.values("kinds", ["t", "--count=three"]) } != nil)
        #expect(usageError { try self.values("kinds", ["t", "--count=11"]) } != nil)
        #expect(usageError { try self.values("kinds", ["t", "--ratio=1.5"]) } != nil)
        #expect(usageError { try self.values("kinds", ["t", "--ratio=nan"]) } != nil)
        #expect(usageError { try self.values("kinds", ["t", "--count"]) } != nil) // a value is needed
    }

    @Test func unknownMissingAndRepeatedParametersAreUsageErrors() {
        #expect(usageError { try self.values("kinds", ["t", "--colour=red"]) } != nil)
        #expect(usageError { try self.values("kinds", []) } != nil) // text is required
        #expect(usageError { try self.values("kinds", ["--text=a", "--text=b"]) } != nil)
    }

    @Test func kwargsTakeUnknownKeysAsPairs() throws {
        #expect(try values("pairs", ["--a=1", "--b", "--name=n"]) == [.string("n"), .pairs([.init(key: "a", value: "1"), .init(key: "b", value: "true")])])
    }

    @Test func afterTwoDashesEveryWordIsPositional() throws {
        #expect(try values("kinds", ["--", "--text", "2"])[0...1] == [.string("--text"), .int(2)])
    }

    @Test func hostsOwnOptionsAreNotTheSteps() throws {
        let bound = try bind("kinds", ["t", "--transient", "--cache=12h"])
        #expect(bound.forceTransient && bound.expiryCap == 12 * 3600)
        #expect(usageError { try self.bind("kinds", ["t", "--cache=soon"]) } != nil)
        #expect(ArgumentBinder.seconds("90s") == 90 && ArgumentBinder.seconds("30m") == 1800 && ArgumentBinder.seconds("7d") == 604_800)
        #expect(ArgumentBinder.seconds("5") == 5 && ArgumentBinder.seconds("-1") == nil && ArgumentBinder.seconds("9999999999999999d") == .max)
    }

    /// Run-time parameters describe the running machine: out of the key, handed to the backend.
    @Test func runTimeParametersStayOutOfTheKey() throws {
        let step = try Self.registry.step(named: "kinds")
        let a = try bind("kinds", ["t", "--port=80"]), b = try bind("kinds", ["t", "--port=90"])
        #expect(a.canonical(step) == b.canonical(step))
        #expect(a.runtime(step).map(\.value) == ["80"])
    }

    @Test func aPathIsMadeAbsoluteAndKeyedByContent() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("binder-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("f.txt")
        try "x\n".write(to: file, atomically: false, encoding: .utf8)
        guard case let .path(path, digest) = try values("files", [file.path + "/../f.txt"])[0] else {
            Issue.record("not a path")
            return
        }
        #expect(path == file.path && digest.count == 64)
        #expect(usageError { try self.values("files", [folder.appendingPathComponent("missing").path]) } != nil)
    }
}
