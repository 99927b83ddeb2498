import Foundation

/// The QEMU that has just saved a machine, kept (stopped) instead of killed:
/// the next step of the pipeline clones the machine it saved, and takes it
/// over with a new overlay on top (QemuMachine.adopt) instead of restoring
/// the state just written, which would cost a QEMU start and a state load.
/// Only a clone of that very save (`savedID`) may take it; any other clone
/// ends it first, and so does host's exit. Plugins are called on one
/// thread, so one slot needs no lock.
enum ParkedMachine {
    nonisolated(unsafe) private static var parked: (process: QemuProcess, id: String)?
    /// A QEMU left parked when host exits goes with it (ChildProcess's death
    /// signal would end it too, but not remove its run directory).
    private static let endAtExit: Void = { atexit { ParkedMachine.end() } }()

    static func park(_ process: QemuProcess, id: String) {
        end()
        _ = endAtExit
        parked = (process, id)
    }

    /// The parked QEMU if it saved `id`; any other is ended.
    static func take(_ id: String?) -> QemuProcess? {
        guard let current = parked, current.id == id else {
            end()
            return nil
        }
        parked = nil
        return current.process
    }

    static func end() {
        parked?.process.kill()
        parked = nil
    }
}
