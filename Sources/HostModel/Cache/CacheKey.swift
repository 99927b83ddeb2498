/// A cache key: the SHA-256 of the parent's key, the plugin file's digest,
/// the step's name and its canonical arguments (run-time ones left out).
/// One formula, for building an entry and for checking one.
package enum CacheKey {
    package static func of(parentKey: String?, pluginDigest: String, step: String, arguments: String) -> String {
        Digest.of("""
            host-cache-key/1
            parent=\(parentKey ?? "")
            plugin=\(pluginDigest)
            step=\(step)
            \(arguments)
            """)
    }

    /// A pulled entry's key: its own where it was built, with that build, so
    /// that it never stands for what the same pipeline builds here (whose
    /// plugins may differ), and two machines that share a pulled parent share
    /// its entry.
    package static func pulled(key: String, build: String) -> String {
        Digest.of("""
            host-pulled-key/1
            key=\(key)
            build=\(build)
            """)
    }
}
