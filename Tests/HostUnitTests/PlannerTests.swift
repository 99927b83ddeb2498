@testable import HostCore
@testable import HostModel
import Testing

/// The planner over a fixed catalog (Catalog.standard): which steps run, on
/// which backend, and which pipelines are refused before anything runs.
@Suite struct PlannerTests {
    private func names(_ words: [String], default backend: String = "backend.a") throws -> [String] {
        try Catalog.planner(default: backend).plan(words).map(\.step.name)
    }

    @Test func theDefaultBackendGoesFirstWhenNoneIsNamed() throws {
        #expect(try names(["os.x", "+", "exec", "true"]) == ["backend.a", "os.x", "exec"])
        #expect(try names(["os.x"], default: "backend.b") == ["backend.b", "os.x"])
    }

    @Test func aNamedBackendIsKeptWithItsArguments() throws {
        let planned = try Catalog.planner().plan(["backend.a", "--memory=1024", "+", "exec", "true"])
        #expect(planned.map(\.step.name) == ["backend.a", "exec"])
        #expect(planned[0].arguments.values.first == .int(1024))
        #expect(planned[1].arguments.values.first == .list(["true"]))
    }

    @Test func aMissingDefaultBackendIsAUsageError() {
        #expect(usageError { try Catalog.planner(default: "backend.gone").plan(["exec", "true"]) } != nil)
    }

    @Test func aStepNeedingWhatTheBackendLacksIsRefusedNamingWhoOffersIt() throws {
        let refused = usageError { try Catalog.planner().plan(["backend.a", "+", "seal"]) }
        #expect(refused?.message.contains("backend.b") == true, "\(String(describing: refused))")
        #expect(try names(["backend.b", "+", "seal"]) == ["backend.b", "seal"])
    }

    /// A 1.2 backend's name for a capability (host.qemu/1) counts as its current one (host.vm/1).
    @Test func aFormerCapabilityNameCounts() throws {
        #expect(try names(["backend.b", "+", "vm.only"]) == ["backend.b", "vm.only"])
        #expect(usageError { try Catalog.planner().plan(["backend.a", "+", "vm.only"]) } != nil)
    }

    @Test func theBackendStepCannotBeTransient() {
        #expect(usageError { try Catalog.planner().plan(["backend.a", "--transient", "+", "exec", "true"]) } != nil)
    }

    @Test func aBackendThatSavesNothingTakesNoInstallerAndNoTransientStep() throws {
        #expect(usageError { try Catalog.planner().plan(["backend.existing", "+", "os.x"]) } != nil)
        #expect(usageError { try Catalog.planner().plan(["backend.existing", "+", "run", "--transient", "true"]) } != nil)
        #expect(try names(["backend.existing", "+", "run", "true"]) == ["backend.existing", "run"])
    }

    @Test func aTransientInstallerWouldLeaveTheNextStepNothing() {
        #expect(usageError { try Catalog.planner().plan(["os.x", "--transient", "+", "exec", "true"]) } != nil)
    }

    @Test func keptMachinesEndInACachedStep() throws {
        #expect(usageError { try Catalog.planner().plan(["os.x", "+", "shell"], keeping: true) } != nil)
        #expect(usageError { try Catalog.planner().plan(["os.x", "+", "run", "--transient", "x"], keeping: true) } != nil)
        // Transient-when-last is cached when the machine is kept: the runner decides, the planner lets it.
        #expect(try Catalog.planner().plan(["os.x", "+", "exec", "x"], keeping: true).count == 3)
    }

    @Test func anUnknownStepIsAUsageErrorWithTheNearestNames() {
        #expect(usageError { try Catalog.planner().plan(["exex", "true"]) } != nil)
        #expect(Catalog.standard.suggestions(for: "exex") == ["exec"])
        #expect(Catalog.standard.suggestions(for: "backend").contains("backend.a"))
    }

    /// A step of a plugin file that failed to load is named with that file (exit 69), not "unknown".
    @Test func aStepOfAFailedPluginNamesItsFile() {
        let registry = Catalog.registry([], failures: [(path: "/plugins/acme_tools.so", reason: "undefined symbol")])
        #expect(throws: HostError.self) { try registry.step(named: "acme.tools.build") }
        do {
            _ = try registry.step(named: "acme.tools.build")
        } catch let error as HostError {
            #expect(error.kind == .plugin && error.exitCode == 69 && error.message.contains("/plugins/acme_tools.so"))
        } catch {
            Issue.record("\(error)")
        }
        #expect(usageError { try registry.step(named: "other") } != nil)
    }

    /// `from NAME + ...`: the saved machine's backend first, with its defaults, then the steps.
    @Test func aPipelineFromASavedMachineContinuesOnItsBackend() throws {
        let backend = try Catalog.standard.step(named: "backend.a")
        let rest = try PipelineParser.split(["exec", "true"])
        let planned = try Catalog.planner().plan(continuing: backend, with: rest, keeping: false)
        #expect(planned.map(\.step.name) == ["backend.a", "exec"])
        #expect(planned[0].arguments.values.first == .int(512))
        #expect(usageError { try Catalog.planner().plan(continuing: backend, with: try PipelineParser.split(["backend.b"]), keeping: false) } != nil)
    }

    @Test func applyRunsOneStep() throws {
        #expect(try Catalog.planner().plan(single: ["run", "--user=me", "ls"]).step.name == "run")
        #expect(throws: HostError.self) { try Catalog.planner().plan(single: ["run", "ls", "+", "exec", "x"]) }
    }
}
