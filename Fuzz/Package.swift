// swift-tools-version:6.0
import PackageDescription

/// libFuzzer targets for what host reads from people, plugins, disks and
/// mirrors. A package of its own, so that host's normal build and its tests
/// are untouched. `scripts/fuzz` builds it (with AddressSanitizer and
/// libFuzzer's coverage) and runs each target; see README.md, "What host
/// promises". Each target's main.swift hands its test to libFuzzer's driver.
///
/// Debug builds are testable builds: the targets reach host's internal
/// readers with `@testable import`, so nothing is made public for them.
func fuzzTarget(_ name: String, _ dependencies: [Target.Dependency]) -> Target {
    .executableTarget(name: name, dependencies: ["FuzzInput"] + dependencies)
}

let host = Target.Dependency.product(name: "HostCore", package: "host")

let package = Package(
    name: "host-fuzz",
    dependencies: [.package(name: "host", path: "..")],
    targets: [
        .target(name: "CFuzzerDriver"),
        .target(name: "FuzzInput", dependencies: ["CFuzzerDriver"]),
        fuzzTarget("FuzzPipeline", [host]),
        fuzzTarget("FuzzDescriptor", [host]),
        fuzzTarget("FuzzRecords", [host, .product(name: "backend_qemu", package: "host"),
                                   .product(name: "backend_podman-criu", package: "host")]),
        fuzzTarget("FuzzMirror", [host]),
    ]
)
