// swift-tools-version:6.1
import PackageDescription

/// Swift 6 language mode everywhere, warnings treated as what they are: defects.
/// Every import is declared and visible only where it is written: `MemberImportVisibility` makes a
/// file import each module whose members it uses, `InternalImportsByDefault` keeps imports internal
/// unless they say `public import` or `package import`.
let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "taskhost",
    platforms: [.macOS(.v15)],
    products: [
        // The SDK that plugin authors import.
        .library(name: "BackgroundTaskKit", targets: ["BackgroundTaskKit"]),
        // In-process harness for plugin authors' unit tests.
        .library(name: "BackgroundTaskKitTesting", targets: ["BackgroundTaskKitTesting"]),
        // The sample app's plugin: the port of the Windows raw-push sample task.
        .library(name: "BackgroundTasks", type: .dynamic, targets: ["BackgroundTasks"]),
        // Misbehaving tasks that the test suite loads (crash, hang, deferral, refusals).
        .library(name: "FaultyTasks", type: .dynamic, targets: ["FaultyTasks"]),
        // A plugin whose build signature does not match the host's (tests).
        .library(name: "MismatchedPlugin", type: .dynamic, targets: ["MismatchedPlugin"]),
        // A library whose constructor segfaults while it loads (tests).
        .library(name: "CrashingConstructor", type: .dynamic, targets: ["CrashingConstructor"]),
        // A library whose constructor never returns (tests).
        .library(name: "HangingConstructor", type: .dynamic, targets: ["HangingConstructor"]),
        // The sample C-ABI plugin: a task in plain C, called through libffi.
        .library(name: "CPushCounter", type: .dynamic, targets: ["CPushCounter"]),
        // Misbehaving C tasks that the test suite loads.
        .library(name: "CFaultyTasks", type: .dynamic, targets: ["CFaultyTasks"]),
        // Foreground listeners' client (issue 18): a running Swift app sees its pushes live and claims them.
        .library(name: "TaskHostClient", targets: ["TaskHostClient"]),
        .executable(name: "taskhost", targets: ["TaskHostCLI"]),
        .executable(name: "taskhost-worker", targets: ["TaskHostWorker"]),
        // The benchmark suite (run it in release: swift run -c release taskhost-bench).
        .executable(name: "taskhost-bench", targets: ["TaskHostBench"]),
        // The floor under every fresh process: fork + _exit of a zygote's image (the bench runs it).
        .executable(name: "taskhost-fork-floor", targets: ["TaskHostForkFloor"]),
        // The no-op task the benchmarks run.
        .library(name: "BenchmarkTasks", type: .dynamic, targets: ["BenchmarkTasks"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // Already built for hummingbird; the CLI's `push` uses it directly (see PushClient).
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        // Already built for hummingbird; the server's request guard and timeouts use their HTTP types directly.
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        // The status page's templates (escaping HTML by default).
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        // Metrics: the components record with swift-metrics; the daemon serves them with swift-prometheus.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // The PostgreSQL store backend (issue 16): the wire protocol, its pool and LISTEN/NOTIFY.
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        // Already built for postgres-nio; the PostgreSQL store builds its TLS configuration (sslmode, sslrootcert) with it.
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        // Foreground listeners (issue 18): `GET /listen/v1/APP` upgraded to a WebSocket, and its client.
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
    ],
    targets: [
        // The C ABI between host and plugin: the only thing both sides share.
        .target(name: "CTaskHostABI"),
        // prctl, close_range, rlimits: what Glibc does not expose cleanly to Swift.
        .target(name: "_TaskHostCShims"),
        // libffi: calls to C task functions whose signature comes from the manifest,
        // and closures that hand host callbacks to them. The worker alone links it.
        .systemLibrary(name: "CFFI", pkgConfig: "libffi", providers: [.apt(["libffi-dev"])]),
        // What the host and the SDK share: setting values and their codec, cancellation
        // reasons, build info. The SDK re-exports it; the host imports it instead of the SDK.
        .target(name: "TaskHostShared", dependencies: ["CTaskHostABI"], swiftSettings: strict),
        // SDK for plugin authors: the Windows background task model in Swift.
        .target(name: "BackgroundTaskKit", dependencies: ["CTaskHostABI", "TaskHostShared"], swiftSettings: strict),
        .target(name: "BackgroundTaskKitTesting", dependencies: ["BackgroundTaskKit"], swiftSettings: strict),
        // Framed messages between the host and a worker process.
        .target(name: "TaskHostIPC", swiftSettings: strict),
        // BlockingExecutor: the one way the host runs blocking work off Swift's cooperative pool.
        .target(name: "TaskHostConcurrency", swiftSettings: strict),
        // The app manifest: model, loading and validation, the JSON reader with positions,
        // library resolution, ELF symbols. Pure data and files: no store, no processes.
        .target(name: "TaskHostManifest", dependencies: ["TaskHostIPC"], swiftSettings: strict),
        // Trigger conditions (the manifest's "Conditions"): what each reads on Linux (routes and netlink,
        // logind's sessions, load, PSI and power, free space), behind a protocol tests drive.
        .target(name: "TaskHostConditions", dependencies: ["TaskHostManifest"], swiftSettings: strict),
        // What every host module shares: trigger events and their kinds, instance
        // outcomes, random and stable ids, the host's metrics, settlement retry.
        .target(
            name: "TaskHostCore",
            dependencies: [
                "TaskHostShared", "TaskHostConcurrency", "CTaskHostABI",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strict),
        // The store: the host's durable state behind backend-neutral protocols (`HostStore`,
        // opened from a `StoreLocation`): queue, history, settings, channels, credentials,
        // Web Push subscriptions, plugin state, group commit; the state directory and its
        // locks; the SQLite backend (the only module that imports GRDB).
        .target(
            name: "TaskHostStore",
            dependencies: [
                "TaskHostCore", "TaskHostShared", "TaskHostIPC", "TaskHostConcurrency",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strict),
        // The PostgreSQL store backend (issue 16): the store protocols on a shared database, with
        // leases and fencing for several hosts.
        .target(
            name: "TaskHostStorePostgres",
            dependencies: [
                "TaskHostCore", "TaskHostStore", "TaskHostShared", "TaskHostIPC", "TaskHostConcurrency",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                // Its pool's errors (a circuit breaker that tripped: the server is unreachable).
                .product(name: "_ConnectionPoolModule", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                // TLS to PostgreSQL: the certificates and context that postgres-nio's TLS options take.
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        // Where the store is (`--store`: the state directory's SQLite, or PostgreSQL) and the one
        // way to open it: the only module that names both backends.
        .target(
            name: "TaskHostStoreBackends",
            dependencies: [
                "TaskHostCore", "TaskHostStore", "TaskHostStorePostgres", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        // Web Push (RFC 8030, 8188, 8291, 8292), pure: the aes128gcm message
        // format and its keys, VAPID tokens and their cache. No store, no HTTP.
        .target(
            name: "TaskHostWebPush", dependencies: [.product(name: "Crypto", package: "swift-crypto")], swiftSettings: strict),
        // Isolated runs: worker processes, the zygote pool, the instance supervisor, cgroups,
        // sandbox options, working directories, cancellation, TaskRunner. The only host
        // module that links the C shims.
        .target(
            name: "TaskHostIsolation",
            dependencies: [
                "TaskHostCore", "TaskHostStore", "TaskHostConcurrency", "TaskHostManifest", "TaskHostShared", "TaskHostIPC", "CTaskHostABI",
                "_TaskHostCShims", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        // The plugins directory: manager, inspector, plugin folders, the task registry.
        .target(
            name: "TaskHostPlugins",
            dependencies: [
                "TaskHostCore", "TaskHostStore", "TaskHostConcurrency", "TaskHostIsolation", "TaskHostManifest", "TaskHostShared",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        // Scheduling: the dispatcher, timers, wake-ups.
        .target(
            name: "TaskHostScheduling",
            dependencies: [
                "TaskHostCore", "TaskHostStore", "TaskHostConcurrency", "TaskHostIsolation", "TaskHostManifest", "TaskHostPlugins",
                "TaskHostShared", "TaskHostConditions",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        // The daemon: WNS-style push endpoint (Hummingbird), dispatcher and timers
        // under swift-service-lifecycle.
        .target(
            name: "TaskHostServer",
            dependencies: [
                "TaskHostCore", "TaskHostStore", "TaskHostConcurrency", "TaskHostIsolation", "TaskHostManifest", "TaskHostPlugins",
                "TaskHostScheduling", "TaskHostConditions",
                "TaskHostShared", "TaskHostWebPush",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                // Foreground listeners' WebSocket upgrade and frames (ListenChannel).
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Mustache", package: "swift-mustache"),
            ],
            swiftSettings: strict),
        // The listening client (`GET /listen/v1/APP`): a library for apps, and what `taskhost listen` uses.
        .target(
            name: "TaskHostClient",
            dependencies: [
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        // The child side: loads one plugin, runs one instance, reports over IPC.
        // It must not link BackgroundTaskKit: the plugin brings its own copy.
        .executableTarget(
            name: "TaskHostWorker",
            dependencies: ["CTaskHostABI", "CFFI", "TaskHostIPC", "_TaskHostCShims"],
            swiftSettings: strict),
        // The CLI, thin (the `taskhost` executable).
        .executableTarget(
            name: "TaskHostCLI",
            dependencies: [
                "TaskHostCore", "TaskHostStore", "TaskHostStoreBackends", "TaskHostIsolation", "TaskHostPlugins", "TaskHostScheduling",
                "TaskHostServer", "TaskHostIPC", "TaskHostManifest", "TaskHostShared", "CTaskHostABI", "TaskHostWebPush",
                "TaskHostConditions",
                "TaskHostClient",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict),

        // The sample plugin.
        .target(
            name: "BackgroundTasks", dependencies: ["BackgroundTaskKit"],
            path: "Plugins/BackgroundTasks", swiftSettings: strict),
        // The sample C plugin.
        .target(name: "CPushCounter", dependencies: ["CTaskHostABI"], path: "Plugins/CPushCounter"),
        // Test plugins.
        .target(
            name: "FaultyTasks", dependencies: ["BackgroundTaskKit"],
            path: "Tests/Fixtures/FaultyTasks", swiftSettings: strict),
        .target(
            name: "MismatchedPlugin", dependencies: ["CTaskHostABI"], path: "Tests/Fixtures/MismatchedPlugin",
            publicHeadersPath: "."),
        .target(name: "CrashingConstructor", path: "Tests/Fixtures/CrashingConstructor", publicHeadersPath: "."),
        .target(name: "HangingConstructor", path: "Tests/Fixtures/HangingConstructor", publicHeadersPath: "."),
        .target(name: "CFaultyTasks", dependencies: ["CTaskHostABI"], path: "Tests/Fixtures/CFaultyTasks", publicHeadersPath: "."),

        // Benchmarks: the suite, and the plugin whose no-op task it runs. The suite
        // calls that plugin in-process through the C ABI only (CTaskHostABI).
        .executableTarget(
            name: "TaskHostBench",
            dependencies: [
                "TaskHostCore", "TaskHostStore", "TaskHostIsolation", "TaskHostPlugins", "TaskHostScheduling", "TaskHostManifest",
                "CTaskHostABI", "TaskHostWebPush", "TaskHostStorePostgres", "TaskHostStoreBackends", "TaskHostServer",
                "TaskHostConcurrency", "TaskHostClient",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/TaskHostBench", swiftSettings: strict),
        // Plain C, so that the only Swift in the image is what the libraries it is told to load bring.
        .executableTarget(name: "TaskHostForkFloor", path: "Benchmarks/ForkFloor"),
        .target(
            name: "BenchmarkTasks", dependencies: ["BackgroundTaskKit"],
            path: "Benchmarks/BenchmarkTasks", swiftSettings: strict),

        .testTarget(
            name: "BackgroundTaskKitTests",
            dependencies: ["BackgroundTaskKit", "BackgroundTaskKitTesting", "BackgroundTasks", "CTaskHostABI"],
            swiftSettings: strict),
        .testTarget(
            name: "TaskHostWebPushTests",
            dependencies: ["TaskHostWebPush", "TaskHostTestSupport", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict),
        .testTarget(name: "TaskHostIPCTests", dependencies: ["TaskHostIPC", "TaskHostTestSupport"], swiftSettings: strict),
        // Paths of build products and helpers shared by the suites.
        .target(
            name: "TaskHostTestSupport",
            dependencies: [
                "TaskHostCore", "TaskHostStore", "TaskHostConcurrency", "TaskHostIPC", "TaskHostManifest", "TaskHostPlugins",
                "_TaskHostCShims", "TaskHostStorePostgres", .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/TaskHostTestSupport", swiftSettings: strict),
        // The store's tests: the behaviour every backend must have (a `StoreBackend` argument), and SQLite's own.
        .testTarget(
            name: "TaskHostStoreTests",
            dependencies: [
                "TaskHostStore", "TaskHostStorePostgres", "TaskHostStoreBackends", "TaskHostCore", "TaskHostShared",
                "TaskHostTestSupport", "TaskHostConcurrency", .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "TaskHostCoreTests",
            dependencies: [
                "TaskHostCore", "TaskHostStore", "TaskHostIsolation", "TaskHostPlugins", "TaskHostScheduling", "TaskHostManifest",
                "TaskHostShared", "TaskHostIPC", "TaskHostConcurrency", "CTaskHostABI", "TaskHostTestSupport", "TaskHostConditions",
                .product(name: "Logging", package: "swift-log"), .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "TaskHostServerTests",
            dependencies: [
                "TaskHostServer", "TaskHostCore", "TaskHostStore", "TaskHostIsolation", "TaskHostManifest", "TaskHostScheduling",
                "TaskHostShared", "TaskHostStorePostgres", "TaskHostTestSupport", "TaskHostWebPush", "TaskHostClient",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "Hummingbird", package: "hummingbird"),
                // The routes' logic driven without a socket (`app.test(.router)`).
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: strict),
        // The PostgreSQL backend against a real server (a throw-away cluster, or TASKHOST_TEST_POSTGRES).
        .testTarget(
            name: "TaskHostStorePostgresTests",
            dependencies: [
                "TaskHostStorePostgres", "TaskHostStore", "TaskHostCore", "TaskHostShared", "TaskHostTestSupport", "TaskHostConcurrency",
                "TaskHostScheduling", "TaskHostPlugins", "TaskHostManifest",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        // Runs the built `taskhost` executable.
        .testTarget(
            name: "TaskHostCLITests",
            dependencies: [
                "TaskHostCore", "TaskHostStore", "TaskHostStorePostgres", "TaskHostShared", "TaskHostTestSupport", "TaskHostConcurrency",
            ],
            swiftSettings: strict),
    ]
)
