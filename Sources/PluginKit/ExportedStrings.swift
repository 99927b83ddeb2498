#if canImport(Glibc)
import Glibc
#endif

/// A NULL-terminated C array of strings handed to host (host.ssh/1's
/// arguments), valid until the next export or until this is freed, as the
/// headers promise for such returns.
public final class ExportedStrings {
    private var array: UnsafeMutablePointer<UnsafePointer<CChar>?>?

    public init() {}

    public func export(_ strings: [String]) -> UnsafePointer<UnsafePointer<CChar>?> {
        release()
        let made = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: strings.count + 1)
        for (index, string) in strings.enumerated() { made[index] = UnsafePointer(strdup(string)) }
        made[strings.count] = nil
        array = made
        return UnsafePointer(made)
    }

    private func release() {
        guard let array else { return }
        var index = 0
        while let item = array[index] { free(UnsafeMutablePointer(mutating: item)); index += 1 }
        array.deallocate()
        self.array = nil
    }

    deinit { release() }
}
