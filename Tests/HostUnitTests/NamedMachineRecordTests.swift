import Foundation
import Testing
@testable import HostCore

/// What `host ls` makes of a named machine's record, and the monitor
/// protocol's framing and versioning, without a machine or a monitor.
@Suite struct NamedMachineRecordTests {
    func machines() throws -> NamedMachines {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("named-\(UUID().uuidString)")
        return NamedMachines(location: CacheLocation(root: root))
    }

    func running(_ name: String, boot: String) -> NamedMachine {
        var record = NamedMachine(name: name, backend: "backend.qemu", pipeline: ["os.busybox"], pipelineEntry: "ab", state: .running)
        record.bootID = boot
        record.monitorPID = 1
        return record
    }

    @Test func aRecordOfAnotherBootIsStoppedAtItsLastSave() throws {
        let machines = try machines()
        defer { try? FileManager.default.removeItem(at: machines.location.root) }
        try machines.write(running("db", boot: "earlier"))
        let seen = try #require(machines.observed("db", bootID: "now"))
        #expect(seen.state == .stopped && seen.startEntry == "ab" && seen.reason?.contains("lost") == true)
    }

    @Test func aRunningRecordWithoutItsMonitorIsDead() throws {
        let machines = try machines()
        defer { try? FileManager.default.removeItem(at: machines.location.root) }
        try machines.write(running("db", boot: "now"))
        #expect(machines.observed("db", bootID: "now")?.state == .dead)
        // While a monitor holds the machine's alive lock, it runs.
        let alive = try machines.aliveLock("db")
        #expect(alive.tryLock(.exclusive))
        #expect(machines.observed("db", bootID: "now")?.state == .running)
    }

    @Test func namesAreLocalNames() {
        #expect((try? NamedMachines.checkName("db-1.test_x")) != nil)
        for bad in ["", "-x", ".x", "a/b", "a:b", "a b"] { #expect((try? NamedMachines.checkName(bad)) == nil, "\(bad)") }
    }

    /// A later host's request: fields this monitor does not know are left
    /// out and the request served; an operation it does not know is not
    /// decoded, and the monitor says which protocol it speaks instead.
    @Test func requestsFromALaterProtocol() throws {
        let later = #"{"protocolVersion": 2, "operation": "stop", "input": false, "withVolumes": true}"#
        let request = try JSONDecoder().decode(MonitorProtocol.Request.self, from: Data(later.utf8))
        #expect(request.operation == .stop)
        let unknown = #"{"protocolVersion": 2, "operation": "snapshot", "input": false}"#
        #expect((try? JSONDecoder().decode(MonitorProtocol.Request.self, from: Data(unknown.utf8))) == nil)
    }

    @Test func framesCarryBytesAndJSONIntact() throws {
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        let (a, b) = (MonitorConnection(fd: fds[0]), MonitorConnection(fd: fds[1]))
        let bytes = [UInt8](0...255) + [UInt8](repeating: 7, count: 100_000)
        #expect(a.send(.stdout, bytes))
        #expect(a.send(.answer, json: MonitorProtocol.Answer(exitStatus: 3)))
        let first = try #require(b.receive())
        #expect(first.0 == .stdout && first.1 == bytes)
        let second = try #require(b.receive())
        #expect(second.0 == .answer)
        #expect(try JSONDecoder().decode(MonitorProtocol.Answer.self, from: Data(second.1)).exitStatus == 3)
        a.close()
        #expect(b.receive() == nil) // the end of the stream
    }
}
