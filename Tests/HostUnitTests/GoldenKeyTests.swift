import Foundation
import Testing
@testable import HostCore
@testable import HostModel

/// Cache keys as host made them before the engine was restructured (issue
/// 26): a changed key silently throws away every user's cache, so each
/// pipeline below must keep the key it had. The catalog is fixed data (a
/// plugin digest of zeros), so nothing here depends on how plugins build.
@Suite struct GoldenKeyTests {
    /// One plugin's steps as the plugin index records them: every
    /// parameter kind, run-time and named-only parameters, a range, a
    /// path with and without its folder.
    static let catalog: [String: StepInfo] = {
        let json = #"""
        [
          {"name": "backend.golden", "summary": "", "flags": 524288, "expiry": 0, "needs": [], "offers": [], "parameters": [
            {"name": "memory", "type": "int", "defaultText": "512", "help": "", "isRuntime": false, "isNamedOnly": false, "range": [64, 65536]},
            {"name": "accel", "type": "string", "defaultText": "tcg", "help": "", "isRuntime": false, "isNamedOnly": false},
            {"name": "forward", "type": "list", "defaultText": "", "help": "", "isRuntime": true, "isNamedOnly": true}]},
          {"name": "golden.kinds", "summary": "", "flags": 0, "expiry": 3600, "needs": [], "offers": [], "parameters": [
            {"name": "text", "type": "string", "help": "", "isRuntime": false, "isNamedOnly": false},
            {"name": "count", "type": "int", "defaultText": "1", "help": "", "isRuntime": false, "isNamedOnly": false},
            {"name": "flag", "type": "bool", "defaultText": "false", "help": "", "isRuntime": false, "isNamedOnly": false},
            {"name": "ratio", "type": "double", "defaultText": "0.5", "help": "", "isRuntime": false, "isNamedOnly": true, "realRange": [0, 1]},
            {"name": "item", "type": "list", "defaultText": "", "help": "", "isRuntime": false, "isNamedOnly": true},
            {"name": "extra", "type": "kwargs", "help": "", "isRuntime": false, "isNamedOnly": false}]},
          {"name": "golden.command", "summary": "", "flags": 0, "expiry": 0, "needs": [], "offers": [], "parameters": [
            {"name": "user", "type": "string", "defaultText": "root", "help": "", "isRuntime": false, "isNamedOnly": true},
            {"name": "command", "type": "rest", "help": "", "isRuntime": false, "isNamedOnly": false}]},
          {"name": "golden.files", "summary": "", "flags": 0, "expiry": 0, "needs": [], "offers": [], "parameters": [
            {"name": "file", "type": "path", "help": "", "isRuntime": false, "isNamedOnly": false},
            {"name": "playbook", "type": "path", "defaultText": "", "help": "", "isRuntime": false, "isNamedOnly": true, "withFolder": true}]}
        ]
        """#
        let identity = #"{"device": 0, "inode": 0, "size": 0, "modified": 0, "changed": 0}"#
        // Fixed data written here: decoding it cannot fail unless this file is edited wrongly.
        let records = try! JSONDecoder().decode([StepRecord].self, from: Data(json.utf8))
        let plugin = PluginInfo(name: "golden", version: "1", path: "/nonexistent/libgolden.so", digest: String(repeating: "0", count: 64),
                                identity: try! JSONDecoder().decode(FileIdentity.self, from: Data(identity.utf8)))
        return Dictionary(uniqueKeysWithValues: records.map { ($0.name, StepInfo(record: $0, plugin: plugin)) })
    }()

    /// The key of each step of `pipeline` (host's grammar), each built on the one before.
    static func keys(_ pipeline: [String]) throws -> [String] {
        var parent: String?
        return try PipelineParser.split(pipeline).map { invocation in
            let step = try #require(catalog[invocation.name])
            let key = CacheKey.of(parentKey: parent, pluginDigest: step.plugin.digest, step: step.name,
                                  arguments: try ArgumentBinder.bind(invocation.words, to: step).canonical(step))
            parent = key
            return key
        }
    }

    /// Files whose content (and for a folder, names, types and modes) the
    /// path keys are made of, in a new folder each time: where it lies
    /// must not matter.
    static func files() throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("golden-\(UUID().uuidString)")
        let roles = root.appendingPathComponent("site/roles")
        try FileManager.default.createDirectory(at: roles, withIntermediateDirectories: true)
        try "hello\n".write(to: root.appendingPathComponent("file.txt"), atomically: false, encoding: .utf8)
        try "- hosts: all\n".write(to: root.appendingPathComponent("site/play.yml"), atomically: false, encoding: .utf8)
        try "x: 1\n".write(to: roles.appendingPathComponent("x.yml"), atomically: false, encoding: .utf8)
        for (path, mode) in [("file.txt", 0o644), ("site/play.yml", 0o644), ("site/roles/x.yml", 0o600), ("site", 0o755), ("site/roles", 0o755)] {
            #expect(chmod(root.appendingPathComponent(path).path, mode_t(mode)) == 0)
        }
        return root
    }

    /// Recorded from main at dffbeec; ROOT stands for the files' folder.
    static let vectors: [(pipeline: [String], keys: [String])] = [
        (["backend.golden"],
         ["600c84e2498c7470d181875ee4b540aae99435890d2e4f9ea48cf9339e6457c6"]),
        (["backend.golden", "--memory=1024", "--forward=8080:80"],
         ["4bcc8fd733eb83aafa10846b07de78ec83ae7d5f37bb963b05c6bdf57c028de8"]),
        (["backend.golden", "--forward=9090:90"],
         ["600c84e2498c7470d181875ee4b540aae99435890d2e4f9ea48cf9339e6457c6"]),
        (["backend.golden", "+", "golden.kinds", "hello"],
         ["600c84e2498c7470d181875ee4b540aae99435890d2e4f9ea48cf9339e6457c6",
          "7b6a5960cb05dd4b4bcfd7c1ff023b39711016a9bfc7c6ca6361f0f521a41a00"]),
        (["backend.golden", "+", "golden.kinds", "--text=hello", "--count=1", "--no-flag"],
         ["600c84e2498c7470d181875ee4b540aae99435890d2e4f9ea48cf9339e6457c6",
          "7b6a5960cb05dd4b4bcfd7c1ff023b39711016a9bfc7c6ca6361f0f521a41a00"]),
        (["backend.golden", "+", "golden.kinds", "hello", "7", "true", "--ratio=0.25", "--item=a", "--item=b\"c", "--k=v", "--z"],
         ["600c84e2498c7470d181875ee4b540aae99435890d2e4f9ea48cf9339e6457c6",
          "a71f1cd94b873cb5905c3cc82ec3dea6898a04af28074c25a2fb28b347342cb2"]),
        (["backend.golden", "+", "golden.kinds", "--", "--text", "2", "+", "golden.command", "echo", "a", "++", "b"],
         ["600c84e2498c7470d181875ee4b540aae99435890d2e4f9ea48cf9339e6457c6",
          "88b001cd5774bd2d49209c64f954e8e03eda567c4ce549ec92e1bc7090696a05",
          "32e364ca5bf1681c871b8d6f1385c9257c457c08845844b43125c94d41a59ca0"]),
        (["backend.golden", "+", "golden.command", "--user=me", "--", "ls", "--all", "+", "golden.kinds", "x", "--cache=1h", "--transient"],
         ["600c84e2498c7470d181875ee4b540aae99435890d2e4f9ea48cf9339e6457c6",
          "402d8151cffcbd570e142f080d76735820252fdfe4d925e7e3c4ad4eac594926",
          "466d9bc8877d2159f1400c6efd89fdf2cdcafc70e42bb111aef7e7d8dae8d378"]),
        (["backend.golden", "2048", "kvm", "+", "golden.files", "ROOT/file.txt", "--playbook=ROOT/site/play.yml"],
         ["b9e257b127e6e01b09e41d7b3d1808a1d252e26da5dd832d14c6099cd95336a3",
          "22cff8e2a09df06a1c169fad5ef254466177ecf5ad029cf1037c1f455da3feea"]),
        (["backend.golden", "+", "golden.files", "--file=ROOT/site"],
         ["600c84e2498c7470d181875ee4b540aae99435890d2e4f9ea48cf9339e6457c6",
          "5123d31eecff8fd1a1ad0c81d0d11b390314af6a4db754e8138b60bfe7302140"]),
    ]

    @Test func keysAreThoseHostAlwaysMade() throws {
        let root = try Self.files()
        defer { try? FileManager.default.removeItem(at: root) }
        for (pipeline, keys) in Self.vectors {
            let words = pipeline.map { $0.replacingOccurrences(of: "ROOT", with: root.path) }
            #expect(try Self.keys(words) == keys, "\(pipeline)")
        }
    }

    /// A pulled entry's key, from its key and build where it was made.
    @Test func pulledKeysAreThoseHostAlwaysMade() {
        #expect(CacheKey.pulled(key: Self.vectors[0].keys[0], build: "golden-build") == "c1b194c7c4ac5f2874254b8b66a0b1684e210148c8024105c68adf8aee8c8502")
    }
}
