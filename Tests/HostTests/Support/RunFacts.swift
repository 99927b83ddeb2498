import Foundation
import HostCore

/// What `host --json` reported on standard error, one RunEvent per line: the
/// facts tests assert on instead of host's English (which steps were
/// reused, built or rebuilt and why, how a run failed).
extension Sandbox.Result {
    /// host's lines; a step's own standard error, passed through, is not JSON.
    var facts: [RunEvent] {
        err.split(separator: "\n").compactMap { line in
            line.hasPrefix("{") ? try? JSONDecoder().decode(RunEvent.self, from: Data(line.utf8)) : nil
        }
    }

    func built(_ step: String) -> Bool { facts.contains { $0.event == .built && $0.step == step } }
    func reused(_ step: String) -> Bool { facts.contains { $0.event == .reused && $0.step == step } }
    /// Why `step`'s saved entry was not used, when it was rebuilt.
    func rebuilt(_ step: String) -> String? { facts.last { $0.event == .rebuilding && $0.step == step }?.reason }
}
