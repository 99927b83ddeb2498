// swift-tools-version:6.0
import PackageDescription

/// libFuzzer targets for what host reads from people, plugins, disks and
/// mirrors. A package of its own, so that host's normal build and its tests
/// are untouched and libFuzzer's `main` meets no other. Build and run (see
/// README.md, "Fuzzing"):
///
///     swift build --package-path Fuzz -Xswiftc -sanitize=fuzzer,address
///     Fuzz/.build/debug/FuzzPipeline Fuzz/Corpus/FuzzPipeline -max_total_time=60
///
/// Debug builds are testable builds: the targets reach host's internal
/// readers with `@testable import`, so nothing is made public for them.
func fuzzTarget(_ name: String, _ dependencies: [Target.Dependency]) -> Target {
    .executableTarget(name: name, dependencies: ["FuzzInput"] + dependencies,
                      // No top-level code: libFuzzer supplies main.
                      swiftSettings: [.unsafeFlags(["-parse-as-library"])])
}

let host = Target.Dependency.product(name: "HostCore", package: "host")

let package = Package(
    name: "host-fuzz",
    dependencies: [.package(name: "host", path: "..")],
    targets: [
        .target(name: "FuzzInput"),
        fuzzTarget("FuzzPipeline", [host]),
        fuzzTarget("FuzzDescriptor", [host]),
        fuzzTarget("FuzzRecords", [host, .product(name: "backend_qemu", package: "host"),
                                   .product(name: "backend_podman-criu", package: "host")]),
        fuzzTarget("FuzzMirror", [host]),
    ]
)
