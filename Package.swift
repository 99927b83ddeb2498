// swift-tools-version:6.0
import PackageDescription

/// Every folder under Plugins/ is one plugin: a dynamic library whose product
/// name is the plugin's name with dots spelled as underscores
/// (`Plugins/backend.qemu` -> `libbackend_qemu.so`); scripts/setup installs
/// them under the plugin's own name.
/// host's own plugins use PluginSupport too; the examples only what a
/// plugin author has, the SDK.
func plugin(_ name: String, target: String, path: String, extra: [Target.Dependency] = [], sdkOnly: Bool = false) -> (Product, Target) {
    (
        .library(name: String(name.map { $0 == "." ? "_" : $0 }), type: .dynamic, targets: [target]),
        .target(name: target, dependencies: ["PluginKit"] + (sdkOnly ? [] : ["PluginSupport"]) + extra, path: path)
    )
}

let plugins = [
    plugin("self_test", target: "SelfTestPlugin", path: "Plugins/self_test"),
    plugin("exec", target: "ExecPlugin", path: "Plugins/exec"),
    plugin("backend.qemu", target: "QemuBackendPlugin", path: "Plugins/backend.qemu", extra: ["CQcow", "GuestAccess"]),
    plugin("backend.libvirt", target: "LibvirtBackendPlugin", path: "Plugins/backend.libvirt",
           extra: ["CLibvirt", "GuestAccess", .product(name: "Crypto", package: "swift-crypto")]),
    plugin("backend.ssh", target: "SSHBackendPlugin", path: "Plugins/backend.ssh"),
    plugin("backend.podman-criu", target: "PodmanBackendPlugin", path: "Plugins/backend.podman-criu"),
    plugin("os.busybox", target: "BusyboxPlugin", path: "Plugins/os.busybox"),
    plugin("os.debian", target: "DebianPlugin", path: "Plugins/os.debian"),
    plugin("os.fedora", target: "FedoraPlugin", path: "Plugins/os.fedora", extra: ["CloudImage"]),
    plugin("os.alpine", target: "AlpinePlugin", path: "Plugins/os.alpine", extra: ["CloudImage"]),
    plugin("os.cloud_image", target: "CloudImagePlugin", path: "Plugins/os.cloud_image", extra: ["CloudImage"]),
    plugin("os.ubuntu", target: "UbuntuPlugin", path: "Plugins/os.ubuntu", extra: ["CloudImage"]),
    plugin("ssh", target: "SSHPlugin", path: "Plugins/ssh"),
    plugin("console", target: "ConsolePlugin", path: "Plugins/console"),
    plugin("transfer", target: "TransferPlugin", path: "Plugins/transfer"),
    plugin("network", target: "NetworkPlugin", path: "Plugins/network"),
    plugin("system", target: "SystemPlugin", path: "Plugins/system"),
    plugin("ansible", target: "AnsiblePlugin", path: "Plugins/ansible"),
    plugin("script", target: "ScriptPlugin", path: "Plugins/script"),
    // Test-only: a backend whose machines are plain directories, so the engine
    // can be tested end to end without a VM. Never installed by scripts/setup.
    plugin("backend.fixture", target: "BackendFixturePlugin", path: "Tests/Fixtures/backend.fixture"),
    // The Swift plugin shown in README.md, built here so the tests run it.
    plugin("hello_swift", target: "HelloSwiftPlugin", path: "Examples/swift-plugin", sdkOnly: true),
    // The Swift half of the plugin tour (the C half is Examples/c-plugin/tour_c.c).
    plugin("tour_swift", target: "TourSwiftPlugin", path: "Examples/swift-tour", sdkOnly: true),
]

let package = Package(
    name: "host",
    platforms: [.macOS(.v13)],
    // Sources/TimeNamespaceHelper/host-timens.c is no target here: a SwiftPM
    // executable links the Swift runtime in, 6.7 MB that would be copied
    // into every restored container. scripts/build-helper builds it with cc.
    products: [
        .executable(name: "host", targets: ["Host"]),
        // For Fuzz/, a package of its own: the readers its targets exercise.
        .library(name: "HostCore", targets: ["HostCore", "HostModel", "PluginABI", "CloudImage"]),
    ] + plugins.map(\.0),
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        .target(name: "PluginABI"),
        .systemLibrary(name: "CFFI", pkgConfig: "libffi", providers: [.apt(["libffi-dev"])]),
        .systemLibrary(name: "CQcow", pkgConfig: "libqcow", providers: [.apt(["libqcow-dev"])]),
        .systemLibrary(name: "CLibvirt", pkgConfig: "libvirt", providers: [.apt(["libvirt-dev"])]),
        // The one way host and its plugins start programs.
        .target(name: "CChildProcess"),
        .target(name: "ChildProcess", dependencies: ["CChildProcess"]),
        // HOST_TRACE's phase marks, shared by host and the plugins.
        .target(name: "Trace"),
        // The SDK a plugin author builds against (scripts/setup installs it).
        .target(name: "PluginKit", dependencies: ["PluginABI", "CFFI", "ChildProcess", "Trace"]),
        // What host's own plugins share beyond the SDK, never installed: the
        // package cache, SSH and shell file transfer, directory and output helpers.
        .target(name: "PluginSupport", dependencies: ["PluginKit"]),
        // What os.fedora and os.alpine share: mirror listings, checksum files,
        // the NoCloud seed and the first boot.
        .target(name: "CloudImage", dependencies: ["PluginKit", "PluginSupport"]),
        // What the VM backends share: commands and files through the guest
        // agent, SSH or the serial console, and the restored guest's clock.
        .target(name: "GuestAccess", dependencies: ["PluginKit", "PluginSupport"]),
        // The pure model: the pipeline grammar, argument binding, planning
        // over a step catalog, cache keys, manifests and registry formats.
        // No files, no processes: what it knows comes in as values.
        .target(name: "HostModel", dependencies: ["PluginABI", .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "HostCore", dependencies: [
            "HostModel", "PluginABI", "CFFI", "ChildProcess", "Trace",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .executableTarget(name: "Host", dependencies: [
            "HostCore", "HostModel",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // End to end: the real host binary, plugins and guests.
        .testTarget(name: "HostTests", dependencies: ["HostCore", "HostModel", "CloudImage", "ChildProcess"], path: "Tests/HostTests"),
        // The unit layer: in-process, on data, no process started (seconds).
        .testTarget(name: "HostUnitTests", dependencies: ["HostCore", "HostModel", "PluginABI", "CloudImage", "GuestAccess"], path: "Tests/HostUnitTests"),
    ] + plugins.map(\.1)
)
