// swift-tools-version: 6.1
// Micro-benchmarks (ordo-one/benchmark) of Runnel's hot paths, with allocation counts.
// A separate package so that the main build and CI do not compile the benchmark framework.
//   cd Benchmarks && swift package benchmark            # run all
//   swift package benchmark --filter "RESP.*"          # some
import PackageDescription

let package = Package(
    name: "RunnelBenchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "Runnel", path: "../"),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(
            name: "RunnelMicro",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "RunnelRESP", package: "Runnel"),
                .product(name: "RunnelStreams", package: "Runnel"),
                .product(name: "RunnelStorage", package: "Runnel"),
                .product(name: "RunnelBroker", package: "Runnel"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            path: "Benchmarks/RunnelMicro",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
