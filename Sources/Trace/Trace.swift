import Foundation

/// Where a run's time goes, for `HOST_TRACE` (scripts/benchmark prints a
/// phase breakdown from it): one line on standard error per phase, with
/// the milliseconds since the run began. `HOST_TRACE=1` counts from
/// host's main; `HOST_TRACE=$(date +%s%N)`, set by whoever starts host,
/// counts from that moment, so the runtime's own start-up shows too.
/// Host and the plugins it loads share it (one process).
public enum Trace {
    private static let origin: Int64? = {
        guard let value = ProcessInfo.processInfo.environment["HOST_TRACE"], !value.isEmpty, value != "0" else { return nil }
        return Int64(value) ?? now()
    }()

    /// Host's main starts the clock: `HOST_TRACE=1` becomes this moment,
    /// for the plugins too (each has its own copy of this code).
    public static func start() {
        if ProcessInfo.processInfo.environment["HOST_TRACE"] == "1" { setenv("HOST_TRACE", "\(now())", 1) }
        mark("main")
    }

    public static func mark(_ what: @autoclosure () -> String) {
        guard let origin else { return }
        let line = "host: trace: " + String(format: "%8.1f", Double(now() - origin) / 1e6) + " ms  " + what() + "\n"
        FileHandle.standardError.write(Data(line.utf8))
    }

    private static func now() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }
}
