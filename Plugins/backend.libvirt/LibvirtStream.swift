import CLibvirt
import Foundation
import GuestAccess
import PluginKit
import PluginSupport

/// A libvirt stream into a domain's console or a virtio-serial channel,
/// which works the same for a remote hypervisor. Read all the time by a
/// thread of its own (DrainedOutput), as backend.qemu drains its console:
/// a guest writing to a port nobody reads would stall. Non-blocking, and
/// polled (libvirt's event loop fills it: Hypervisor): with threads
/// blocked in virStreamRecv, the guest agent's commands on the same
/// connection were never answered.
final class LibvirtStream: ByteChannel {
    private let stream: virStreamPtr
    private let name: String
    private let output: DrainedOutput

    init(_ stream: virStreamPtr, name: String) {
        self.stream = stream
        self.name = name
        // The reading thread holds a reference of its own, dropped when the
        // stream ends (the domain went, or deinit aborted it).
        virStreamRef(stream)
        nonisolated(unsafe) let reading = stream
        output = DrainedOutput {
            var buffer = [CChar](repeating: 0, count: 65536)
            // Asked again soon after bytes came, less often while none do.
            var pause: UInt32 = 1_000
            while true {
                let count = virStreamRecv(reading, &buffer, buffer.count)
                if count > 0 { return buffer.prefix(Int(count)).map { UInt8(bitPattern: $0) } }
                guard count == -2 else {
                    virStreamFree(reading)
                    return nil
                }
                usleep(pause)
                pause = min(pause * 2, 10_000)
            }
        }
    }

    deinit {
        virStreamAbort(stream)
        virStreamFree(stream)
    }

    func read(timeoutMs: Int64) throws -> [UInt8] {
        guard let bytes = output.read(timeoutMs: timeoutMs) else { throw StepError("the machine closed its \(name)") }
        return bytes
    }

    /// Fails when the guest takes none of the bytes for 30 s (a guest that
    /// stopped reading its port), as backend.qemu's socket writes do.
    func write(_ bytes: [UInt8]) throws {
        var offset = 0
        var stalled = Date().addingTimeInterval(30)
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes {
                virStreamSend(stream, $0.baseAddress?.assumingMemoryBound(to: CChar.self), $0.count)
            }
            if sent == -2 {
                // The stream's buffer is full: the guest has not read yet.
                guard Date() < stalled else { throw StepError("the machine took no input on its \(name) for 30 s") }
                usleep(1_000)
                continue
            }
            guard sent > 0 else { throw StepError("writing to the machine's \(name) failed: \(libvirtMessage())") }
            offset += Int(sent)
            stalled = Date().addingTimeInterval(30)
        }
    }
}

/// The guest agent through libvirt (virDomainQemuAgentCommand), which
/// works for a remote hypervisor too; libvirt synchronises with the agent
/// before each command itself.
final class LibvirtAgentChannel: AgentChannel {
    private let domain: Domain

    init(_ domain: Domain) { self.domain = domain }

    func execute(_ command: String, _ arguments: [String: Any]) throws -> [String: Any] {
        var request: [String: Any] = ["execute": command]
        if !arguments.isEmpty { request["arguments"] = arguments }
        let json = String(decoding: try JSONSerialization.data(withJSONObject: request), as: UTF8.self)
        let reply = try domain.agentCommand(json, timeoutSeconds: 30)
        guard let object = try JSONSerialization.jsonObject(with: Data(reply.utf8)) as? [String: Any] else {
            throw StepError("the guest agent's reply to \(command) is not JSON: \(reply)")
        }
        return object["return"] as? [String: Any] ?? [:]
    }

    /// Asked until `timeoutMs`: just after a restore libvirt reports the
    /// agent "not connected" until QEMU tells it the guest's port is open.
    func answers(timeoutMs: Int64) -> Bool {
        let deadline = Date().addingTimeInterval(TimeInterval(timeoutMs) / 1000)
        repeat {
            if (try? domain.agentCommand(#"{"execute":"guest-ping"}"#, timeoutSeconds: Int32(max(1, timeoutMs / 1000)))) != nil { return true }
            usleep(20_000)
        } while Date() < deadline
        return false
    }
}
