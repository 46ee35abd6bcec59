// swift-tools-version: 6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

/// The hot path (parse → dispatch → encode) runs on one event loop that owns all state; dynamic
/// exclusivity checks on its class properties cost ~15% of a pipelined PING (perf, see
/// docs/BENCHMARKS.md), so release builds of these modules check exclusivity statically only.
let hotPathSettings: [SwiftSetting] = swiftSettings + [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "Runnel",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "runnel-server", targets: ["runnel-server"]),
        .executable(name: "runnel-dump", targets: ["runnel-dump"]),
        .executable(name: "runnel-load", targets: ["runnel-load"]),
        .library(name: "RunnelRESP", targets: ["RunnelRESP"]),
        .library(name: "RunnelBroker", targets: ["RunnelBroker"]),
        .library(name: "RunnelStorage", targets: ["RunnelStorage"]),
        .library(name: "RunnelStreams", targets: ["RunnelStreams"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
    ],
    targets: [
        // RESP2/RESP3 server-side codec: command parsing and reply encoding. NIOCore only.
        .target(
            name: "RunnelRESP",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: hotPathSettings
        ),
        // Pure value semantics of streams and consumer groups. No I/O.
        .target(name: "RunnelStreams", swiftSettings: hotPathSettings),
        // zlib (deflate/inflate, crc32) from the system.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // System calls Swift's Glibc module does not declare (they need _GNU_SOURCE): thread
        // names, malloc_trim.
        .target(name: "CRunnelSystem"),
        // The durable log: segments, CRC-framed deflate frames, index, checkpoints, recovery.
        .target(
            name: "RunnelStorage",
            dependencies: [
                "RunnelStreams", "CZlib", "CRunnelSystem",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: hotPathSettings
        ),
        // Connections, command table, keyspace, Pub/Sub hub, INFO/CONFIG.
        .target(
            name: "RunnelBroker",
            dependencies: [
                "RunnelRESP", "RunnelStreams", "RunnelStorage", "CRunnelSystem",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "OrderedCollections", package: "swift-collections"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: hotPathSettings
        ),
        .executableTarget(
            name: "runnel-server",
            dependencies: [
                "RunnelBroker",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "runnel-dump",
            dependencies: [
                "RunnelStorage", "RunnelStreams",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Load generator of the side-by-side benchmarks (tools/bench).
        .executableTarget(
            name: "runnel-load",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: swiftSettings
        ),
        // Test helpers: a blocking RESP client, server launchers, the differential runner.
        .target(
            name: "RunnelTestSupport",
            dependencies: ["RunnelRESP", "RunnelBroker", .product(name: "NIOPosix", package: "swift-nio")],
            path: "Tests/RunnelTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RunnelRESPTests",
            dependencies: [
                "RunnelRESP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RunnelStorageTests",
            dependencies: ["RunnelStorage", "RunnelStreams", "CZlib", "CRunnelSystem"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RunnelStreamsTests",
            dependencies: ["RunnelStreams"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RunnelBrokerTests",
            dependencies: [
                "RunnelBroker", "RunnelRESP", "RunnelStreams", "RunnelTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RunnelIntegrationTests",
            dependencies: ["RunnelTestSupport", "RunnelBroker", "RunnelStorage", "RunnelStreams"],
            swiftSettings: swiftSettings
        ),
    ]
)
