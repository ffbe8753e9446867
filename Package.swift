// swift-tools-version:6.1
import PackageDescription

let upcoming: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "dokkulite",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "dokkulite", targets: ["dokkulite"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", exact: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", exact: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl", exact: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras", exact: "1.35.2"),
        .package(url: "https://github.com/apple/swift-nio-http2", exact: "1.46.0"),
        .package(url: "https://github.com/adam-fowler/compress-nio", exact: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", exact: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto", exact: "4.5.2"),
        .package(url: "https://github.com/apple/swift-certificates", exact: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1", exact: "1.7.4"),
        .package(url: "https://github.com/swift-server/async-http-client", exact: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1"),
    ],
    targets: [
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),
        .systemLibrary(name: "CGit2", pkgConfig: "libgit2", providers: [.apt(["libgit2-dev"])]),
        // Brotli's and zstd's encoders, for responses the proxy compresses.
        .systemLibrary(name: "CBrotli", pkgConfig: "libbrotlienc", providers: [.apt(["libbrotli-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .target(name: "CBeneath"),
        // Backups to S3 and S3-compatible servers: Signature Version 4 over AsyncHTTPClient.
        .target(
            name: "S3",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: upcoming
        ),
        // Reading and removing files in directories apps can write, without following
        // their links: a leaf shared by Builder, Proxy and the product.
        .target(name: "Beneath", dependencies: ["CBeneath"], swiftSettings: upcoming),
        .target(
            name: "Supervisor",
            dependencies: [
                "CSystemd",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: upcoming
        ),
        .target(
            name: "Builder",
            dependencies: [
                "CGit2", "Beneath",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: upcoming
        ),
        .target(
            name: "Proxy",
            dependencies: [
                "Beneath", "CBrotli", "CZstd",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // Release builds go through scripts/build-release, which turns off run-time
            // exclusivity checks in every module (most of their cost is in SwiftNIO).
            swiftSettings: upcoming
        ),
        // An RFC 8555 (ACME) client: accounts, orders, challenges, certificates. A leaf:
        // it knows nothing of apps; whoever answers the challenges is handed to it.
        .target(
            name: "ACME",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: upcoming
        ),
        // The platform: the store, apps, deploys, processes, services, plugins, the proxy
        // daemon's routes and the commands over them. The executable, and the tests, call it.
        .target(
            name: "Platform",
            dependencies: [
                "Builder", "Supervisor", "Proxy", "Beneath", "ACME", "S3",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "X509", package: "swift-certificates"),
            ],
            swiftSettings: upcoming
        ),
        // The `dokkulite` program: its entry point, nothing more.
        .executableTarget(
            name: "dokkulite",
            dependencies: ["Platform"],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "SupervisorTests",
            dependencies: ["Supervisor", "TestSupport"],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "S3Tests",
            dependencies: ["S3"],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "BeneathTests",
            dependencies: ["Beneath"],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "BuilderTests",
            dependencies: ["Builder", "TestSupport"],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "ProxyTests",
            dependencies: [
                "Proxy", "TestSupport",
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            exclude: ["Fixtures"],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "dokkuliteTests",
            dependencies: ["Platform", "Proxy", "TestSupport"],
            swiftSettings: upcoming
        ),
        // The hostile suite: attacks on the installed server (its own target: it runs
        // scripts/install on this machine).
        .testTarget(
            name: "HostileTests",
            dependencies: ["TestSupport"],
            swiftSettings: upcoming
        ),
        .target(
            name: "TestSupport",
            path: "Tests/TestSupport",
            swiftSettings: upcoming
        ),
    ]
)
