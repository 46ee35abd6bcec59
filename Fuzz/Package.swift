// swift-tools-version: 6.1
// libFuzzer targets (built by tools/fuzz with -sanitize=fuzzer,address): the RESP parser, the
// log reader (segments, frames, records, checkpoints), and the whole broker behind a
// connection. A separate package so the main build never compiles with the fuzzer runtime.
import PackageDescription

let fuzzTarget: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "RunnelFuzz",
    dependencies: [
        .package(name: "Runnel", path: "../"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(
            name: "FuzzRESP",
            dependencies: [.product(name: "RunnelRESP", package: "Runnel"), .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: fuzzTarget),
        .executableTarget(
            name: "FuzzLog",
            dependencies: [.product(name: "RunnelStorage", package: "Runnel")],
            swiftSettings: fuzzTarget),
        .executableTarget(
            name: "FuzzBroker",
            dependencies: [
                .product(name: "RunnelBroker", package: "Runnel"), .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: fuzzTarget),
    ]
)
