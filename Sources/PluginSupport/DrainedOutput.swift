import Foundation
import PluginKit

/// Output read all the time by a thread of its own, so the writer never
/// blocks on a reader that is busy elsewhere (a guest's serial console, a
/// container's attached shell). What arrives is kept, at most `limit`
/// bytes, the newest, until a reader asks for it; or, `lossless`, all of
/// it, the thread waiting while `limit` bytes are untaken.
public final class DrainedOutput: @unchecked Sendable {
    private let limit: Int
    private let lossless: Bool
    private let condition = NSCondition()
    private var buffer: [UInt8] = []
    private var closed = false

    /// `source` blocks until bytes come and returns them, or nil once the
    /// other side has closed; the thread ends then.
    public init(limit: Int = 1 << 20, lossless: Bool = false, source: @escaping @Sendable () -> [UInt8]?) {
        self.limit = limit
        self.lossless = lossless
        Thread { [self] in
            while true {
                if lossless {
                    condition.lock()
                    while buffer.count >= limit { condition.wait() }
                    condition.unlock()
                }
                let bytes = source()
                condition.lock()
                if let bytes {
                    buffer += bytes
                    // Trimmed by half at a time: one move per half limit, not one per byte.
                    if !lossless, buffer.count > limit { buffer.removeFirst(buffer.count - limit / 2) }
                } else {
                    closed = true
                }
                condition.broadcast()
                condition.unlock()
                if bytes == nil { return }
            }
        }.start()
    }

    /// Up to `maximum` of the bytes nobody took yet, waiting up to
    /// `timeoutMs` for the first (empty when none came); nil once the other
    /// side has closed and everything was taken.
    public func read(upTo maximum: Int = .max, timeoutMs: Int64) -> [UInt8]? {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date().addingTimeInterval(Double(timeoutMs) / 1000)
        while buffer.isEmpty && !closed && condition.wait(until: deadline) {}
        if buffer.isEmpty && closed { return nil }
        let count = min(maximum, buffer.count)
        defer {
            buffer.removeFirst(count)
            condition.broadcast() // a lossless reader thread may wait for room
        }
        return Array(buffer.prefix(count))
    }
}
