import PluginKit

/// tour_swift: what Examples/c-plugin/tour_c.c does not show, through
/// PluginKit: a step that works in stages and checkpoints its machine after
/// each (ABI 1.5), so that a run asking for more stages goes on from the
/// last one saved; apply, and dropping a machine no longer needed.
let plugin = Plugin(name: "tour_swift", version: "1.0.0", steps: [
    Step("tour_swift.stages", summary: "Append one line per stage to stages.txt, checkpointing after each",
         parameters: [.int("count", default: 3, range: 1...100, help: "how many stages")]) { call in
        // apply runs a step on the machine as this step received it (so
        // first, before anything changes it), cached on its own; this one is
        // only looked at, then let go.
        let probe = try call.apply(["exec", "true"])
        call.drop(probe)
        let count = Int(call.int("count"))
        // The furthest stage a run before saved, else the machine as received.
        var machine = call.machine
        var done = 0
        for stage in stride(from: count, to: 0, by: -1) {
            if let saved = call.resume(key: "stage \(stage)") {
                (machine, done) = (saved, stage)
                call.log("resuming after stage \(stage)")
                break
            }
        }
        for stage in stride(from: done + 1, through: count, by: 1) {
            try call.run("echo stage \(stage) >> stages.txt", on: machine)
            machine = try call.checkpoint(machine, key: "stage \(stage)", description: "after stage \(stage)")
        }
        return machine
    },
])

@_cdecl("host_plugin_entry_v1")
public func hostPluginEntry() -> UnsafeRawPointer { plugin.descriptor }
