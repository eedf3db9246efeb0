import ArgumentParser
import Foundation
import Logging
import TaskHostConditions
import TaskHostCore
import TaskHostIsolation
import TaskHostManifest
import TaskHostPlugins
import TaskHostScheduling
import TaskHostServer
import TaskHostStore

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the host: the push endpoint, the dispatcher and the timers.",
        discussion: """
            Runs the tasks of the app manifest (if there is one) and of every plugin folder \
            dropped into the plugins directory (see taskhost plugins). Accepts WNS-style raw \
            pushes on http://HOST:PORT/push/v1/<channel-id>, stores each one durably before \
            answering 200, and runs the bound task in an isolated worker.

            Triggers are delivered at least once: a run that does not complete is retried with \
            exponential backoff and jitter, then dead-lettered (taskhost queue, taskhost retry).

            SIGTERM or Ctrl-C shuts down gracefully: no trigger is claimed any more, running \
            instances are canceled with reason Terminating and given their grace period, the \
            server accepts no new connection and gives open requests --shutdown-grace seconds \
            before it closes them, and unfinished triggers stay queued for the next start. A \
            second SIGTERM or Ctrl-C stops at once: connections are closed and instances \
            killed; their triggers stay queued.
            """)

    @Option(help: "Address to bind.") var bind: String = "127.0.0.1"
    @Option(help: "Port to bind (0 picks a free one; the log says which).") var port: Int = 8080
    @Option(
        name: .customLong("metrics-bind"),
        help: ArgumentHelp(
            "Where the operator listener (/healthz, /readyz, /metrics) binds: HOST:PORT, or off.",
            discussion:
                "Default: $TASKHOST_METRICS_BIND, else 127.0.0.1 on --port + 1 (loopback only: its pages are for this host's operator). The push port answers /healthz and /readyz too.",
            valueName: "host:port"))
    var metricsBind: String?
    @Option(name: .customLong("max-payload"), help: "Largest push payload in bytes (WNS: 5120).") var maxPayload: Int = 5 * 1024
    @Option(
        name: .customLong("max-push-headers"),
        help: ArgumentHelp("Most bytes of headers a push forwards to its task (431 beyond).", valueName: "bytes"))
    var maxPushHeaders: Int = PushService.defaultMaxForwardedHeaders
    @Option(
        name: .customLong("auth-failure-limit"),
        help: ArgumentHelp("Failed authentications (401) one source address may make before it gets 429.", valueName: "n"))
    var authFailureLimit: Int = 20
    @Option(
        name: .customLong("auth-failure-window"),
        help: ArgumentHelp("Seconds in which --auth-failure-limit failures are allowed again (a token bucket).", valueName: "s"))
    var authFailureWindow: Double = 60
    @Option(name: .customLong("channel-rate"), help: "Pushes per second per channel, on average.") var channelRate: Double = 100
    @Option(name: .customLong("channel-burst"), help: "Pushes a channel may send at once before the rate applies.") var channelBurst: Int =
        200
    @Option(name: .customLong("client-rate"), help: "Pushes per second per client credential, across its channels.") var clientRate:
        Double = 1000
    @Option(name: .customLong("client-burst"), help: "Pushes a client may send at once.") var clientBurst: Int = 2000
    @Option(
        name: .customLong("max-connections"),
        help: ArgumentHelp(
            "HTTP connections open at once; one more replaces the oldest that sent no request yet, or is closed.",
            discussion:
                "Default: the open-file limit (raised to its hard limit at start) minus a reserve for running instances, pre-forked workers, the store and the plugins directory.",
            valueName: "n"))
    var maxConnections: Int?
    @Option(
        name: .customLong("idle-timeout"),
        help: ArgumentHelp("Seconds a keep-alive connection may wait for its next request before it is closed.", valueName: "s"))
    var idleTimeout: Double = 60
    @Option(
        name: .customLong("header-timeout"),
        help: ArgumentHelp(
            "Seconds a request head may take, from the connection's accept or the request's first byte, before the connection is closed.",
            valueName: "s"))
    var headerTimeout: Double = 10
    @Option(
        name: .customLong("body-timeout"),
        help: ArgumentHelp(
            "Seconds a request body may take after its head before the connection is closed (the push is not stored).",
            valueName: "s"))
    var bodyTimeout: Double = 30
    @Option(
        name: .customLong("shutdown-grace"),
        help: ArgumentHelp(
            "Seconds open requests may take to finish after SIGTERM or SIGINT before their connections are closed.",
            discussion: "A second SIGTERM or SIGINT ends the grace at once.",
            valueName: "s"))
    var shutdownGrace: Double = 5
    @Option(help: "Instances running at once (default: the number of cores).") var concurrency: Int?
    @Option(name: .customLong("per-task-concurrency"), help: "Instances of one task running at once (default: --concurrency).")
    var perTaskConcurrency: Int?
    @Option(name: .customLong("max-attempts"), help: "Runs of a trigger before it is dead-lettered.") var maxAttempts: Int = 5
    @Option(name: .customLong("retry-delay"), help: "Seconds before the first retry; doubles per attempt, ±25% jitter.") var retryDelay:
        Double = 2
    @Option(name: .customLong("max-retry-delay"), help: "Longest delay between attempts, in seconds.") var maxRetryDelay: Double = 300
    @Flag(
        name: .customLong("dispatch"), inversion: .prefixedNo,
        help: "Run triggers (--no-dispatch: only accept and store pushes, e.g. to measure ingest).")
    var dispatch = true
    @Option(
        help: ArgumentHelp(
            "How pushes are stored, for benchmarks: group, per-push or discard.",
            discussion:
                "group (the default) commits concurrent pushes together; per-push commits each one alone; discard answers 200 after every check without storing anything (loses every push).",
            valueName: "mode"))
    var ingest: IngestMode = .group
    @Option(
        name: .customLong("keep-done"),
        help: ArgumentHelp(
            "How long settled triggers (done, dead, expired) and the history of their instances stay in the store.",
            discussion: "forever, 0 (pruned as soon as settled), or e.g. 7d, 36h, 90m. Default: $TASKHOST_KEEP_DONE, else 7d.",
            valueName: "duration"))
    var keepDone: String?
    @Option(
        name: .customLong("plugins-dir"),
        help: ArgumentHelp(
            "The drop-in plugins directory to watch ('' to watch none).",
            discussion: "Default: plugins/ in the state directory. Each folder in it holds a plugin's manifest.json and libraries.",
            valueName: "dir"))
    var pluginsDir: String?
    @Option(name: .customLong("plugins-poll"), help: "Seconds between two looks at the plugins directory.") var pluginsPoll: Double = 1
    @Option(
        name: .customLong("crash-limit"), help: "Crashes of one plugin task that disable that task when they happen within --crash-window.")
    var crashLimit: Int = 3
    @Option(name: .customLong("crash-window"), help: "Seconds within which --crash-limit crashes of one task disable it.") var crashWindow:
        Double = 300
    @Option(
        name: .customLong("public-url"),
        help: ArgumentHelp(
            "The server's URL as app servers reach it: the base of channel URIs and Web Push endpoints, and the origin VAPID tokens must name as aud.",
            discussion:
                "Default: $TASKHOST_PUBLIC_URL, else http://ADDRESS:PORT as bound (127.0.0.1 when bound to every address). Recorded in the state directory, where taskhost channels create and taskhost subscriptions create read it.",
            valueName: "url"))
    var publicURL: String?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.") var logLevel: String = "info"
    @Option(
        name: .customLong("log-format"),
        help: ArgumentHelp("How log lines are written on standard error: text, or json (one JSON object per line).", valueName: "format"))
    var logFormat: LogFormat = .text
    @Option(
        name: .customLong("host-name"),
        help: ArgumentHelp(
            "This host's name among the hosts of a PostgreSQL store, shown by taskhost history (default: HOSTNAME:PORT).",
            valueName: "name"))
    var hostName: String?
    @Option(
        name: .customLong("lease"),
        help: ArgumentHelp(
            "With a PostgreSQL store: how long a claim holds unless this host extends it (it does every third of it while the instance runs); "
                + "then another host runs the trigger again.",
            valueName: "seconds"))
    var lease: Double = 30
    @OptionGroup var manifestOptions: ManifestOptions
    @OptionGroup var stateOptions: StateOptions
    @OptionGroup var sandboxFlags: SandboxFlags
    @OptionGroup var isolationOption: IsolationOption
    @OptionGroup var conditionOptions: ConditionOptions

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0 to 65535") }
        guard maxPayload > 0, concurrency ?? 1 > 0, maxAttempts > 0, channelBurst > 0, channelRate > 0, retryDelay >= 0 else {
            throw ValidationError("--max-payload, --concurrency, --max-attempts, --channel-rate and --channel-burst must be positive")
        }
        guard maxConnections ?? 1 > 0 else { throw ValidationError("--max-connections must be positive") }
        guard maxPushHeaders > 0, authFailureLimit > 0, authFailureWindow > 0, authFailureWindow <= 86_400 else {
            throw ValidationError(
                "--max-push-headers and --auth-failure-limit must be positive, --auth-failure-window more than 0 and at most 86400 seconds")
        }
        guard [idleTimeout, headerTimeout, bodyTimeout].allSatisfy({ $0 > 0 && $0 <= 86_400 }) else {
            throw ValidationError("--idle-timeout, --header-timeout and --body-timeout must be more than 0 and at most 86400 seconds")
        }
        guard shutdownGrace >= 0, shutdownGrace <= 86_400 else {
            throw ValidationError("--shutdown-grace must be 0 to 86400 seconds")
        }
        guard lease >= 0.5, lease <= 3600 else { throw ValidationError("--lease must be 0.5 to 3600 seconds") }
        guard pluginsPoll > 0, crashLimit > 0, crashWindow > 0 else {
            throw ValidationError("--plugins-poll, --crash-limit and --crash-window must be positive")
        }
        _ = try keepDoneRetention()
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
        if try operatorBind() == .loopbackNextToPush, port == 65535 {
            throw ValidationError("--port 65535 leaves no port + 1 for the operator listener: set --metrics-bind HOST:PORT, or off")
        }
    }

    /// `--metrics-bind`, else `$TASKHOST_METRICS_BIND`, else the default.
    func operatorBind() throws -> OperatorBind {
        let environment = ProcessInfo.processInfo.environment["TASKHOST_METRICS_BIND"].flatMap { $0.isEmpty ? nil : $0 }
        guard let text = metricsBind ?? environment else { return .loopbackNextToPush }
        do {
            return try OperatorBind(parsing: text)
        } catch {
            throw ValidationError(error.description + (metricsBind == nil ? " (from $TASKHOST_METRICS_BIND)" : ""))
        }
    }

    /// `--keep-done`, else `$TASKHOST_KEEP_DONE`, else ``KeepDone/default``.
    func keepDoneRetention() throws -> KeepDone {
        try KeepDone.option(keepDone, name: "--keep-done")
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        let format = logFormat
        LoggingSystem.bootstrap { label in DaemonLogHandler(label: label, level: level, format: format) }
        var logger = Logger(label: "taskhost")
        logger.logLevel = level
        if format == .json {
            // Every line on standard error is then a JSON object, these warnings too.
            let warnings = logger
            PrivateFiles.redirectWarnings { warnings.warning("\($0)") }
        }
        // Idle connections, workers and the store all take descriptors: use every one allowed.
        let descriptors = DescriptorBudget.raiseToHard()
        logger.info("open-file limit", metadata: ["soft": "\(descriptors.soft)", "hard": "\(descriptors.hard)"])

        // One host per state directory, taken before anything touches the queue.
        let hostLock: HostLock
        do {
            hostLock = try HostLock.acquire(stateOptions.directory)
        } catch {
            throw CLIError(error.description)
        }
        let registry: TaskRegistry
        if let manifest = try manifestOptions.loadIfPresent() {
            // Checked as a dropped-in plugin folder is: libraries load, entry points are usable.
            let checker = ManifestChecker(
                resolver: manifestOptions.resolver,
                inspector: PluginInspector(workerPath: try locateWorker(), sandbox: sandboxFlags.options(state: stateOptions.directory)))
            let problems = checker.check(manifest).problems
            guard problems.isEmpty else {
                throw CLIError(
                    ManifestError(file: manifest.path, problems: problems).description
                        + "\nnot starting: fix the manifest (taskhost validate --manifest \(manifest.path) checks it again)")
            }
            do {
                registry = try TaskRegistry.load(manifest: manifest, resolver: manifestOptions.resolver)
            } catch {
                throw CLIError(error.description)
            }
        } else {
            logger.notice("no \(manifestOptions.path) here; running the drop-in plugins only")
            registry = TaskRegistry()
        }
        var configuration = DaemonConfiguration()
        configuration.host = bind
        configuration.port = port
        configuration.operatorBind = try operatorBind()
        // Started by systemd (Type=notify): READY=1, STOPPING=1, WATCHDOG=1 over NOTIFY_SOCKET.
        configuration.systemd = SystemdNotifier.fromEnvironment()
        configuration.publicURL = (publicURL ?? ProcessInfo.processInfo.environment["TASKHOST_PUBLIC_URL"]).flatMap {
            $0.isEmpty ? nil : $0
        }
        configuration.maxPayload = maxPayload
        configuration.maxForwardedHeaders = maxPushHeaders
        configuration.authFailureLimit = authFailureLimit
        configuration.authFailureWindow = .milliseconds(Int64(authFailureWindow * 1000))
        configuration.channelRate = channelRate
        configuration.channelBurst = channelBurst
        configuration.clientRate = clientRate
        configuration.clientBurst = clientBurst
        configuration.dispatches = dispatch
        configuration.maxConnections = maxConnections
        configuration.timeouts = ConnectionTimeouts(
            idle: .milliseconds(Int64(idleTimeout * 1000)), header: .milliseconds(Int64(headerTimeout * 1000)),
            body: .milliseconds(Int64(bodyTimeout * 1000)))
        configuration.ingest = ingest
        configuration.keepDone = try keepDoneRetention()
        configuration.shutdownGrace = .milliseconds(Int64(shutdownGrace * 1000))
        configuration.hostName = hostName
        configuration.conditions = conditionOptions.system(state: stateOptions.directory.path).monitor()
        let state = stateOptions.directory
        let pluginsDirectory = pluginsDir ?? state.pluginsPath
        if !pluginsDirectory.isEmpty {
            configuration.plugins = PluginManager.Configuration(
                directory: pluginsDirectory, stagingDirectory: state.stagedPluginsPath,
                pollInterval: .milliseconds(Int64(pluginsPoll * 1000)),
                crashPolicy: CrashPolicy(limit: crashLimit, window: .milliseconds(Int64(crashWindow * 1000))))
        }
        configuration.sandbox = sandboxFlags.options(state: stateOptions.directory)
        configuration.isolation = isolationOption.isolation
        configuration.limits = ConcurrencyLimits(
            global: concurrency ?? ProcessInfo.processInfo.activeProcessorCount, perTask: perTaskConcurrency)
        configuration.retryPolicy = RetryPolicy(
            maxAttempts: maxAttempts, baseDelay: .milliseconds(Int64(retryDelay * 1000)),
            maxDelay: .milliseconds(Int64(maxRetryDelay * 1000)))
        // Every child of serve is started through WorkerProcess: it may reap the orphans it inherits.
        OrphanReaper.shared.start()
        let daemon = Daemon(
            configuration: configuration,
            store: try await stateOptions.openStoreWaiting(leaseDuration: .milliseconds(Int64(lease * 1000)), logger: logger),
            registry: registry,
            workerPath: try locateWorker(), logger: logger)
        let bind = self.bind
        let hostLogger = logger
        let publicURL = (publicURL ?? ProcessInfo.processInfo.environment["TASKHOST_PUBLIC_URL"]).flatMap { $0.isEmpty ? nil : $0 }
        let operatorHost = Self.urlHost(configuration.operatorBind.resolve(pushPort: 0)?.host ?? "127.0.0.1")
        do {
            try await daemon.run(
                onListening: { port in
                    let address = Self.urlHost(bind) + ":\(port)"
                    do {
                        try hostLock.recordListening(
                            address: address, publicURL: publicURL ?? PublicOrigin.defaultURL(bind: bind, port: port))
                    } catch {
                        hostLogger.warning(
                            "cannot record the address in the state directory; channels create will not find it",
                            metadata: ["error": "\(error)"])
                    }
                    print("taskhost: listening on http://\(address)")
                    fflush(nil)
                },
                onOperatorListening: { port in
                    print("taskhost: operator listener on http://\(operatorHost):\(port)")
                    fflush(nil)
                })
        } catch let error as DaemonError {
            throw CLIError(error.description)
        }
        withExtendedLifetime(hostLock) {}
    }

    /// `host` as it goes in a URL (IPv6 addresses in brackets).
    static func urlHost(_ host: String) -> String { host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host }
}

extension LogFormat: ExpressibleByArgument {}
