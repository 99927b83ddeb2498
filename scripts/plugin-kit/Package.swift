// swift-tools-version:6.0
// host's PluginKit as a package of its own: scripts/setup installs it, with
// the sources of the targets below, in PREFIX/share/host/plugin-kit, so that
// a Swift plugin built outside host's tree (`host plugin-template swift NAME`)
// depends on it by path. Build such a plugin with the same Swift toolchain
// as host: Swift has no stable ABI on Linux.
import PackageDescription

let package = Package(
    name: "plugin-kit",
    products: [.library(name: "PluginKit", targets: ["PluginKit"])],
    targets: [
        .target(name: "PluginABI"),
        .systemLibrary(name: "CFFI", pkgConfig: "libffi", providers: [.apt(["libffi-dev"])]),
        .target(name: "CChildProcess"),
        .target(name: "ChildProcess", dependencies: ["CChildProcess"]),
        .target(name: "Trace"),
        .target(name: "PluginKit", dependencies: ["PluginABI", "CFFI", "ChildProcess", "Trace"]),
    ]
)
