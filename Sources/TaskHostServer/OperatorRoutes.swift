package import Hummingbird
import TaskHostIsolation
package import TaskHostPlugins
package import TaskHostStore

/// What the operator listener's routes can read: the daemon's store,
/// tasks, plugins, sandbox options and health. Built once per daemon run.
package struct OperatorEnvironment: Sendable {
    /// The daemon's store.
    package let store: any HostStore
    /// The tasks that can run (the manifest's and the active plugins').
    package let registry: TaskRegistry
    /// The drop-in plugins directory's manager (`nil`: none is watched).
    package let plugins: PluginManager?
    /// The daemon's configuration (sandbox options, limits, isolation).
    package let configuration: DaemonConfiguration
    /// Liveness and readiness.
    package let health: Health
    /// The daemon's metrics (`/metrics`).
    package let metrics: DaemonMetrics
    /// Where `/metrics` reads its gauges from the store.
    let storeReads = StoreReads()
    /// How many instances run now.
    package let runningInstances: @Sendable () -> Int
}

/// The operator listener's router (`--metrics-bind`): health and metrics
/// for the host's operator, never reachable from the push listener (which
/// answers the health routes only).
///
/// This is the extension point of operator pages: a feature adds its routes
/// in ``router(_:)`` with a function of its own file
/// (`SomeRoutes.add(to: router, environment: environment)`), and lists its
/// paths in ``allowedMethods(path:)`` so that a wrong method gets 405.
package enum OperatorRoutes {
    /// A router with every operator route.
    package static func router(_ environment: OperatorEnvironment) -> Router<OperatorRequestContext> {
        let router = Router(context: OperatorRequestContext.self, options: .autoGenerateHeadEndpoints)
        router.add(middleware: MethodNotAllowedMiddleware(allowedMethods: allowedMethods))
        HealthRoutes.add(to: router, health: environment.health)
        StatusRoutes.add(to: router, environment: environment)
        MetricsRoutes.add(to: router, environment: environment)
        return router
    }

    /// The methods a known path takes (`nil`: not a path of this listener).
    static func allowedMethods(path: String) -> [HTTPRequest.Method]? {
        if HealthRoutes.paths.contains(path) || MetricsRoutes.paths.contains(path) { return [.get, .head] }
        if let methods = StatusRoutes.allowedMethods(path: path) { return methods }
        return nil
    }
}

/// The operator listener's request context: Hummingbird's basic one and the
/// client's address (for routes that treat loopback peers differently).
package typealias OperatorRequestContext = PushRequestContext
