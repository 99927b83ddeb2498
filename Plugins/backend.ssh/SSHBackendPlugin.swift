import Foundation
import PluginABI
import PluginKit
import PluginSupport

struct SSHBackend: Backend {
    func create(_ call: BackendCall, directory: String, arguments: Arguments) throws -> BackendMachine {
        var target = try SSHTarget(host: arguments.string("host"), port: Int(arguments.int("port")), user: arguments.string("user"),
                                   identity: arguments.string("identity"), options: arguments.list("ssh-option"))
        let run = try PrivateDirectory.forThisRun("ssh")
        do {
            let pin = arguments.string("host-key")
            if !pin.isEmpty { target.pinnedKeys = try PresentedKey.pin(pin, for: target, in: run) }
            return ExistingMachine(connection: SSHConnection(target: target, directory: run))
        } catch {
            try? FileManager.default.removeItem(at: run)
            throw error
        }
    }

    func clone(_ call: BackendCall, from source: String, to destination: String) throws -> BackendMachine {
        throw StepError("backend.ssh saves no machines, so there is none to clone")
    }

    func extensionTable(_ id: String) -> UnsafeRawPointer? { id == HOST_SSH_V1 ? UnsafeRawPointer(sshExtension) : nil }
}

/// The ssh(1) arguments handed out through host.ssh/1 (host calls plugins on one thread).
nonisolated(unsafe) let exported = ExportedStrings()

/// The host.ssh/1 table (host_ssh.h): the run's connection, for `ssh` and ansible.
nonisolated(unsafe) let sshExtension: UnsafeMutablePointer<host_ssh_v1> = {
    let table = UnsafeMutablePointer<host_ssh_v1>.allocate(capacity: 1)
    table.initialize(to: host_ssh_v1(
        struct_size: MemoryLayout<host_ssh_v1>.size,
        arguments: { call, raw in
            guard let call else { return nil }
            do {
                guard let machine = backendMachine(raw, as: ExistingMachine.self) else { throw StepError("not a backend.ssh machine") }
                return exported.export(try machine.sshArguments(BackendCall(raw: call)))
            } catch {
                call.pointee.services.pointee.set_error(call, String(describing: error))
                return nil
            }
        }))
    return table
}()

let plugin = Plugin(name: "backend.ssh", version: "1.0.0", steps: [
    Step("backend.ssh", summary: "A machine that exists already, reached over SSH (nothing is saved: every step runs each time)",
         flags: [.backend, .savesNothing],
         parameters: [
            .string("host", help: "the machine's host name or address"),
            .int("port", default: 22, range: 1...65535, help: "its SSH port"),
            .string("user", default: "", help: "the user to log in as (default: your ssh configuration's)"),
            .string("identity", default: "", help: "private key file (default: your ssh configuration and agent)"),
            .list("ssh-option", help: "an ssh_config option such as ProxyJump=jump.example (repeat for more)"),
            .string("host-key", default: "",
                    help: "trust only this host key: a public key line (as in its .pub file) or its SHA256: fingerprint (default: your known_hosts)"),
         ]) { call in call.machine }, // configured where it is made: SSHBackend.create
], backend: SSHBackend())

@_cdecl("host_plugin_entry_v1")
public func hostPluginEntry() -> UnsafeRawPointer { plugin.descriptor }
