import CLibvirt
import Foundation
import GuestAccess
import PluginKit

/// A libvirt stream into a domain's console or a virtio-serial channel,
/// which works the same for a remote hypervisor. Read all the time by a
/// thread of its own (DrainedOutput), as backend.qemu drains its console:
/// a guest writing to a port nobody reads would stall.
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
            let count = virStreamRecv(reading, &buffer, buffer.count)
            guard count > 0 else {
                virStreamFree(reading)
                return nil
            }
            return buffer.prefix(Int(count)).map { UInt8(bitPattern: $0) }
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

    func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes {
                virStreamSend(stream, $0.baseAddress?.assumingMemoryBound(to: CChar.self), $0.count)
            }
            guard sent > 0 else { throw StepError("writing to the machine's \(name) failed: \(libvirtMessage())") }
            offset += Int(sent)
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

    func answers(timeoutMs: Int64) -> Bool {
        (try? domain.agentCommand(#"{"execute":"guest-ping"}"#, timeoutSeconds: Int32(max(1, timeoutMs / 1000)))) != nil
    }
}
