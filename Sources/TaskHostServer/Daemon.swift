import Foundation
import Hummingbird
import HummingbirdCore
package import Logging
import ServiceLifecycle
package import TaskHostConditions
import TaskHostCore
package import TaskHostIsolation
import TaskHostManifest
package import TaskHostPlugins
package import TaskHostScheduling
import TaskHostShared
package import TaskHostStore

/// What `taskhost serve` runs.
package struct DaemonConfiguration: Sendable {
    /// Address to bind.
    package var host: String = "127.0.0.1"
    /// Port to bind (0: any free port).
    package var port: Int = 8080
    /// Where the operator listener (health, metrics) binds; by default the
    /// loopback address on ``port`` + 1 (see ``OperatorBind``).
    package var operatorBind = OperatorBind.loopbackNextToPush
    /// The server's URL as app servers reach it (`--public-url`): the origin
    /// VAPID tokens must name, and the base of Web Push message URIs
    /// (`nil`: http://HOST:PORT as bound, see ``PublicOrigin/defaultURL(bind:port:)``).
    package var publicURL: String?
    /// Largest push payload.
    package var maxPayload: Int = 5 * 1024
    /// Most bytes of headers a push may forward to its task (431 beyond).
    package var maxForwardedHeaders = PushService.defaultMaxForwardedHeaders
    /// Failed authentications (401) a source address may make at once; then
    /// its pushes get 429 until its bucket refills.
    package var authFailureLimit = 20
    /// The time in which `authFailureLimit` failures are allowed again.
    package var authFailureWindow: Duration = .seconds(60)
    /// Pushes per second per channel, on average.
    package var channelRate: Double = 100
    /// Pushes a channel may send at once.
    package var channelBurst: Int = 200
    /// Pushes per second per client (credential), across its channels.
    package var clientRate: Double = 1000
    /// Pushes a client may send at once.
    package var clientBurst: Int = 2000
    package var limits = ConcurrencyLimits()
    package var retryPolicy = RetryPolicy()
    /// How instances are sandboxed.
    package var sandbox = SandboxOptions()
    /// How instances get their process.
    package var isolation = IsolationMode.fromEnvironment()
    /// How often the dispatcher looks at the queue when nothing wakes it.
    package var pollInterval: Duration = .milliseconds(250)
    /// Whether this host runs triggers (`false`: accept and store pushes only,
    /// for an ingest-only host or to measure ingest alone).
    package var dispatches = true
    /// How pushes are stored: ``IngestMode/group`` (the default) in production;
    /// the other modes are for benchmarks.
    package var ingest = IngestMode.group
    /// How long settled triggers, and the history of their instances, stay
    /// in the store before they are pruned (``KeepDone/forever``: never).
    package var keepDone = KeepDone.default
    /// The drop-in plugins directory to watch (`nil`: none).
    package var plugins: PluginManager.Configuration?
    /// HTTP connections open at once; one more is closed as soon as it is
    /// accepted (`nil`: what the open-file limit leaves after the reserve for
    /// workers, zygotes, the store and the plugins directory; see
    /// ``DescriptorBudget/defaultMaxConnections(limit:concurrency:libraries:isolation:)``).
    package var maxConnections: Int?
    /// How long a connection may wait between requests, take to send a
    /// request head, and take to send a request body, before it is closed.
    package var timeouts = ConnectionTimeouts.default
    /// How long open HTTP requests may take to finish once shutdown begins;
    /// then their connections are closed (a second SIGTERM or SIGINT ends it at once).
    package var shutdownGrace: Duration = .seconds(5)
    /// Where to tell systemd of readiness, shutdown and liveness (`nil`: not
    /// started by systemd; see ``SystemdNotifier/fromEnvironment(_:)``).
    package var systemd: SystemdNotifier?
    /// Whether SIGTERM and SIGINT start a graceful shutdown, and a second one
    /// an immediate stop (off when embedded, e.g. in tests, where a graceful
    /// shutdown or cancellation of the task that runs the daemon does it).
    package var handlesSignals = true
    /// This host's name among the hosts of a shared store (`--host-name`;
    /// `nil`: HOSTNAME:PORT), shown by `taskhost history`.
    package var hostName: String?
    /// The host's conditions, which tasks' `"Conditions"` read (`nil`: not
    /// checked, every task's conditions hold); the daemon starts and stops it.
    package var conditions: ConditionMonitor?

    package init() {}
}

/// The daemon: push endpoint, dispatcher and timers in one process under a
/// service group that shuts down gracefully on SIGTERM and SIGINT: at once
/// the dispatcher and the timers stop claiming and running instances are
/// canceled with `Terminating` (each given its grace period); the HTTP server
/// stops accepting and gives open requests ``DaemonConfiguration/shutdownGrace``
/// before it closes their connections; unfinished triggers stay queued for
/// the next start. A second signal closes connections and kills instances at
/// once (see ``ShutdownController``).
package struct Daemon: Sendable {
    package let configuration: DaemonConfiguration
    package let store: any HostStore
    package let registry: TaskRegistry
    package let workerPath: String
    package let logger: Logger

    package init(configuration: DaemonConfiguration, store: any HostStore, registry: TaskRegistry, workerPath: String, logger: Logger) {
        self.configuration = configuration
        self.store = store
        self.registry = registry
        self.workerPath = workerPath
        self.logger = logger
    }

    /// Runs until SIGTERM or SIGINT (or cancellation). Once every listener
    /// has bound, `onOperatorListening` gets the operator listener's port (if
    /// there is one), then `onListening` the push listener's.
    package func run(
        onListening: @escaping @Sendable (Int) -> Void = { _ in }, onOperatorListening: @escaping @Sendable (Int) -> Void = { _ in }
    ) async throws {
        let operatorAddress = configuration.operatorBind.resolve(pushPort: configuration.port)
        // Metrics are recorded only where they are served.
        let metrics = operatorAddress.map { _ in DaemonMetrics() }
        let hostMetrics = metrics?.host ?? .disabled
        let store = MeasuredStore(self.store, metrics: hostMetrics)
        // A shared store (PostgreSQL) claims only the tasks loaded here, from before the first claim.
        let shared = configuration.dispatches ? self.store as? any SharedQueueStore : nil
        if let shared { HostHeartbeatService.restrictClaims(of: shared, to: registry) }
        let runner = TaskRunner(
            store: store, workerPath: workerPath, sandbox: configuration.sandbox, isolation: configuration.isolation, metrics: hostMetrics)
        let dispatcher = Dispatcher(
            store: store, runner: runner, registry: registry, limits: configuration.limits,
            retryPolicy: configuration.retryPolicy, pollInterval: configuration.pollInterval, owner: shared?.hostId,
            conditions: configuration.conditions, resumeInterval: shared.map { _ in .seconds(5) },
            logger: logger.component("taskhost.dispatcher"))
        let committer = IngestCommitter(store: store, maxBatch: configuration.ingest.maxBatch, metrics: hostMetrics) { dispatcher.wake() }
        let storeFailures = FailureLogAggregator(
            subject: "push endpoint: store failures answered 500/503", logger: logger.component("taskhost.store"))
        let publicOrigin = PublicOrigin(configuration.publicURL ?? "")
        let listeners = ListenerHub(
            store: store, claimWindow: { registry.lookup(app: $0, task: $1)?.task.claimWindow ?? .zero }, wake: { dispatcher.wake() },
            metrics: hostMetrics, logger: logger.component("taskhost.listen"))
        let pushServices = PushListenerServices(
            configuration: configuration, store: store, committer: committer, publicOrigin: publicOrigin, storeFailures: storeFailures,
            listeners: listeners
        ) { dispatcher.hasCapacity(app: $0, task: $1) }
        let scheduler = TimerScheduler(store: store, registry: registry, logger: logger.component("taskhost.timers"))
        let plugins = configuration.plugins.map { pluginConfiguration in
            PluginManager(
                configuration: pluginConfiguration, store: self.store, registry: registry,
                inspector: PluginInspector(workerPath: workerPath, sandbox: configuration.sandbox),
                reservedIdentity: registry.all.first { $0.plugin == nil }?.app.identity.name,
                logger: self.logger.component("taskhost.plugins")
            ) { identity in
                dispatcher.cancelInstances(app: identity, reason: .uninstall)
            }
        }
        if let plugins {
            dispatcher.observeOutcomes { plugins.recordOutcome(of: $0, $1) }
        }
        let probe = self.store.readinessCheck()
        let systemd = configuration.systemd
        let health = Health(
            dispatches: configuration.dispatches, watchesPlugins: plugins != nil,
            onStarted: { systemd?.ready(status: "listening; the queue is recovered") },
            probe: probe)
        // Nothing touches the queue before the port is bound: a host that
        // cannot listen leaves it as it found it.
        let bound = StartGate()
        // The dispatcher and the timers wait for the first look at the plugins
        // directory too: triggers of plugin tasks must find them registered.
        // That look runs scanner processes, so it runs on the plugin watcher's
        // thread, after the bind, not in the server's start-up callback.
        let ready = StartGate()
        let logger = self.logger
        let descriptors = DescriptorBudget.current()
        let connections = ConnectionLimit(
            maximum: configuration.maxConnections
                ?? DescriptorBudget.defaultMaxConnections(
                    limit: descriptors.soft, concurrency: configuration.limits.global,
                    libraries: Set(registry.all.map(\.libraryPath)).count, isolation: configuration.isolation),
            logger: logger.component("taskhost.http"))
        let timeouts = configuration.timeouts
        let publicURL = configuration.publicURL
        let host = configuration.host
        let open = OpenConnections()
        let dispatches = configuration.dispatches
        let shutdown = ShutdownController(
            grace: configuration.shutdownGrace, logger: logger,
            onBegin: {
                health.stopping()
                systemd?.stopping()
                listeners.closeAll()
                if dispatches { dispatcher.shutdown() }
            },
            onHurry: {
                if dispatches { dispatcher.shutdownNow() }
                open.closeAll()
            })
        // Nothing counts as listening (the queue stays untouched) before every listener is bound.
        let listening = ListenerCountdown(hasOperator: operatorAddress != nil) { push, operatorPort in
            bound.open()
            if plugins == nil { ready.open() }
            if let operatorPort { onOperatorListening(operatorPort) }
            onListening(push)
            health.listening()
        }
        let application = Application(
            router: pushServices.router(health: health, metrics: hostMetrics),
            server: pushServices.server(
                connectionHandlers: { [connections.handler(), open.handler()] }, httpHandlers: { [timeouts.handler()] },
                headTimeout: timeouts.header, logger: logger.component("taskhost.http")),
            configuration: ApplicationConfiguration(
                address: .hostname(configuration.host, port: configuration.port), serverName: "taskhost"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                if publicURL == nil { publicOrigin.set(PublicOrigin.defaultURL(bind: host, port: port)) }
                logger.info("listening", metadata: ["address": "http://\(channel.localAddress?.ipAddress ?? "?"):\(port)"])
                listening.pushBound(port)
            },
            logger: logger.component("taskhost.http"))
        // Shut down in reverse order: first the shutdown's start (no more
        // claims, instances canceled), the timers, the HTTP server's bounded
        // drain, the committer, the plugins watcher, and last the dispatcher,
        // once its instances have ended.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if dispatches { services.append(.init(service: DispatcherService(dispatcher: dispatcher, ready: ready, health: health))) }
        if let plugins {
            services.append(
                .init(
                    service: PluginService(
                        manager: plugins, runner: runner, registry: registry, bound: bound, ready: ready, health: health)))
        }
        services.append(.init(service: CommitterService(committer: committer)))
        services.append(
            .init(
                service: DrainingServer(
                    server: application, connections: open, controller: shutdown, logger: logger.component("taskhost.http"))))
        if let operatorAddress, let metrics {
            let environment = OperatorEnvironment(
                store: self.store, registry: registry, plugins: plugins, configuration: configuration, health: health,
                metrics: metrics, runningInstances: { dispatcher.runningCount })
            let server = OperatorListener.server(
                environment, host: operatorAddress.host, port: operatorAddress.port, timeouts: timeouts, open: open,
                logger: logger.component("taskhost.operator")
            ) { port in listening.operatorBound(port) }
            services.append(
                .init(
                    service: DrainingServer(
                        server: server, connections: open, controller: shutdown, logger: logger.component("taskhost.operator"))))
        }
        if let shared {
            let name = configuration.hostName ?? "\(ProcessInfo.processInfo.hostName):\(configuration.port)"
            services.append(
                .init(
                    service: HostHeartbeatService(
                        store: shared, registry: registry, name: name, logger: logger.component("taskhost.cluster"))))
        }
        if dispatches { services.append(.init(service: TimerService(scheduler: scheduler, ready: ready, wake: { dispatcher.wake() }))) }
        if dispatches, let wakeups = self.store as? any QueueWakeupSource {
            services.append(
                .init(
                    service: QueueWakeupService(
                        source: wakeups, bound: bound, wake: { dispatcher.wake() }, logger: logger.component("taskhost.wakeups"))))
        }
        if configuration.keepDone != .forever {
            services.append(
                .init(
                    service: QueuePruningService(
                        store: self.store, keepDone: configuration.keepDone, bound: bound, metrics: hostMetrics,
                        logger: logger.component("taskhost.queue"))))
        }
        if let systemd, let interval = systemd.watchdogInterval {
            services.append(.init(service: WatchdogService(notifier: systemd, interval: interval)))
        }
        services.append(.init(service: ShutdownStartService(controller: shutdown)))
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: services, logger: logger))
        // Signals are counted here, not by the group: a second one hurries the shutdown.
        let signals =
            configuration.handlesSignals
            ? shutdown.watchSignals { Task { await group.triggerGracefulShutdown() } } : nil
        defer { signals?.cancel() }
        logger.info(
            "starting",
            metadata: [
                "tasks": "\(registry.all.map(\.task.name).joined(separator: ","))",
                "plugins": "\(configuration.plugins?.directory ?? "-")",
                "concurrency": "\(configuration.limits.global)",
                "maxConnections": "\(connections.maximum)",
                "shutdownGrace": "\(configuration.shutdownGrace)",
                "openFileLimit": "\(descriptors.soft)",
                "ingest": "\(configuration.ingest)",
                "keepDone": "\(configuration.keepDone)",
                "store": "\(self.store.location)",
                "operator": "\(operatorAddress.map { OperatorBind.address(host: $0.host, port: $0.port).description } ?? "off")",
            ])
        if configuration.dispatches { configuration.conditions?.start() }
        defer { configuration.conditions?.stop() }
        do {
            defer {
                bound.close()
                ready.close()
            }
            defer {
                storeFailures.flush(all: true)
                connections.flushLog()
            }
            try await group.run()
        } catch {
            throw DaemonError(listening: error, host: configuration.host, port: configuration.port) ?? error
        }
        logger.info("stopped")
    }
}

/// Runs the dispatcher once the server is bound and the plugins directory
/// was looked at once (it first requeues the
/// triggers a host that stopped had claimed); the shutdown's start
/// (``ShutdownStartService``) stops it and cancels running instances with
/// `Terminating`; it returns once they have ended and its turn has come.
struct DispatcherService: Service {
    let dispatcher: Dispatcher
    let ready: StartGate
    let health: Health
    func run() async throws {
        await withGracefulShutdownHandler {
            if await ready.wait() { await dispatcher.run(onRecovered: { health.dispatcherStarted() }) }
            // The shutdown's start stopped it earlier: wait for this service's
            // turn (after the HTTP drain), or the group takes it for a failure.
            try? await gracefulShutdown()
        } onGracefulShutdown: {
            ready.close()
            dispatcher.shutdown()
        }
    }
}

/// Watches the drop-in plugins directory, once the server is bound, until
/// shutdown; opens `ready` after its first look.
struct PluginService: Service {
    let manager: PluginManager
    let runner: TaskRunner
    let registry: TaskRegistry
    let bound: StartGate
    let ready: StartGate
    let health: Health
    func run() async throws {
        await cancelWhenGracefulShutdown {
            guard await bound.wait() else { return }
            await manager.run {
                health.pluginsScanned()
                ready.open()  // after the first look; later calls change nothing
                // Pre-forked workers of replaced or removed plugins are stopped.
                runner.retireZygotes(keeping: Set(registry.all.map(\.libraryPath)))
            }
        }
    }
}

/// Fires time triggers, once the dispatcher may start, until shutdown.
struct TimerService: Service {
    let scheduler: TimerScheduler
    let ready: StartGate
    let wake: @Sendable () -> Void
    func run() async throws {
        await cancelWhenGracefulShutdown {
            guard await ready.wait() else { return }
            await scheduler.run(onEnqueue: wake)
        }
    }
}

/// Closes the group committer once the HTTP server has stopped.
struct CommitterService: Service {
    let committer: IngestCommitter
    func run() async throws {
        try? await gracefulShutdown()
        committer.close()
    }
}

extension Logger {
    /// The same handler, with the component named in the metadata.
    func component(_ name: String) -> Logger {
        var copy = self
        copy[metadataKey: "component"] = "\(name)"
        return copy
    }
}
