@testable import HostModel
import PluginABI
import Testing

/// A step catalog that is plain data, not a PluginIndex: no plugin file, no
/// scan, no disk. What only a plugin or the disk could answer (a capability
/// host does not know, a host path's digest) the fixture answers from its
/// own fields, and records that it was asked.
private final class Asked: @unchecked Sendable {
    var capabilities: [String] = []
    var paths: [String] = []
}

private struct FixtureStep: CatalogStep {
    let record: StepRecord
    /// Capabilities outside host's headers that this backend's "plugin" offers.
    var thirdParty: Set<String> = []
    let asked: Asked

    func offers(_ id: String) -> Bool {
        if let scanned = record.scannedOffer(id) { return scanned }
        asked.capabilities.append(id)
        return thirdParty.contains(id)
    }

    func resolvePath(_ text: String, for parameter: ParameterInfo) throws -> ArgumentValue {
        asked.paths.append(text)
        guard text.hasPrefix("/") else { throw HostError.usage("\(name): --\(parameter.name)=\(text): not absolute") }
        return .path(text, digest: String(repeating: "a", count: 64))
    }
}

private struct FixtureCatalog: StepCatalog {
    let steps: [FixtureStep]

    func step(named name: String) throws -> FixtureStep {
        guard let step = steps.first(where: { $0.name == name }) else { throw HostError.usage("unknown step \(name)") }
        return step
    }
}

@Suite struct FixtureCatalogTests {
    private let asked = Asked()

    private func catalog() -> FixtureCatalog {
        func record(_ name: String, flags: UInt32 = 0, needs: [String] = [], offers: [String] = [], _ parameters: [ParameterInfo] = []) -> StepRecord {
            StepRecord(name: name, summary: "", flags: flags, expiry: 0, parameters: parameters, needs: needs, offers: offers)
        }
        let file = ParameterInfo(name: "file", type: .path, defaultText: nil, defaultValue: nil, help: "", isRuntime: false,
                                 isNamedOnly: false, range: nil)
        return FixtureCatalog(steps: [
            FixtureStep(record: record("backend.plain", flags: HOST_STEP_BACKEND, offers: [HOST_SSH_V1]), asked: asked),
            FixtureStep(record: record("backend.acme", flags: HOST_STEP_BACKEND), thirdParty: ["acme.gpu/1"], asked: asked),
            FixtureStep(record: record("os.y", flags: HOST_STEP_STARTS_PIPELINE), asked: asked),
            FixtureStep(record: record("copy", [file]), asked: asked),
            FixtureStep(record: record("login", needs: [HOST_SSH_V1]), asked: asked),
            FixtureStep(record: record("render", needs: ["acme.gpu/1"]), asked: asked),
        ])
    }

    @Test func thePlannerNeedsNoPluginFiles() throws {
        let planner = PipelinePlanner(registry: catalog(), defaultBackend: "backend.plain")
        let planned = try planner.plan(["os.y", "+", "copy", "/etc/hosts", "+", "login"])
        #expect(planned.map(\.step.name) == ["backend.plain", "os.y", "copy", "login"])
        // The path was handed to the step to resolve, and its digest is what the key sees.
        #expect(asked.paths == ["/etc/hosts"])
        #expect(planned[2].arguments.canonical(planned[2].step) == #"file={"sha256":"\#(String(repeating: "a", count: 64))"}"#)
        #expect(planned[2].text == "copy /etc/hosts")
    }

    /// A capability host knows is the scan's to answer; one it does not is
    /// asked of the step (HostCore's StepInfo loads the plugin for it).
    @Test func unknownCapabilitiesAreAskedOfTheStep() throws {
        let planner = PipelinePlanner(registry: catalog(), defaultBackend: "backend.plain")
        #expect(try planner.plan(["backend.acme", "+", "render"]).count == 2)
        #expect(asked.capabilities == ["acme.gpu/1"])
        let refused = usageError { try planner.plan(["backend.plain", "+", "render"]) }
        #expect(refused?.message.contains("backend.acme") == true, "\(String(describing: refused))")
        #expect(usageError { try planner.plan(["backend.acme", "+", "login"]) } != nil)
    }

    @Test func theCatalogsErrorsAndTheBindersAreUsageErrors() {
        let planner = PipelinePlanner(registry: catalog(), defaultBackend: "backend.plain")
        #expect(usageError { try planner.plan(["nothing"]) }?.message == "unknown step nothing")
        #expect(usageError { try planner.plan(["os.y", "+", "copy", "relative"]) }?.message == "copy: --file=relative: not absolute")
        #expect(usageError { try planner.plan(["copy", "/x"]) } != nil) // needs a machine
    }
}
