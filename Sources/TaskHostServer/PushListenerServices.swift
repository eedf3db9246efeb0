package import Hummingbird
package import TaskHostCore
package import TaskHostStore

/// What the push listener's routes serve, built from a daemon configuration:
/// the WNS-style ``PushService`` and the ``WebPushService``, sharing one
/// store, one group committer and one failure log, with the rate limits the
/// configuration sets.
///
/// ``Daemon`` builds one per run; tests build one over a temporary store and
/// drive ``router(health:metrics:)`` without a process or a socket.
package struct PushListenerServices: Sendable {
    /// `POST /push/v1/{channel}`.
    package var push: PushService
    /// `POST /webpush/v1/{subscription}` and `DELETE` of a waiting message.
    package var webPush: WebPushService
    /// The foreground listeners (`GET /listen/v1/{app}`; `nil`: none are served).
    package var listeners: ListenerHub?

    /// The services of `configuration` over `store`, committing pushes through
    /// `committer`; `hasCapacity(app, task)` says whether a task could start
    /// now (no-cache and TTL 0 pushes are dropped otherwise); store failures
    /// answered 500/503 go to `storeFailures`.
    package init(
        configuration: DaemonConfiguration, store: any ChannelStore & WebPushStore & TriggerQueueStore, committer: IngestCommitter,
        publicOrigin: PublicOrigin, storeFailures: FailureLogAggregator?, listeners: ListenerHub? = nil,
        hasCapacity: @escaping @Sendable (String, String) -> Bool
    ) {
        self.listeners = listeners
        let window = configuration.authFailureWindow.components
        push = PushService(
            store: store, committer: committer,
            limiter: RateLimiter(ratePerSecond: configuration.channelRate, burst: configuration.channelBurst),
            clientLimiter: RateLimiter(ratePerSecond: configuration.clientRate, burst: configuration.clientBurst),
            authFailureLimiter: RateLimiter(
                ratePerSecond: Double(configuration.authFailureLimit)
                    / max(0.001, Double(window.seconds) + Double(window.attoseconds) / 1e18),
                burst: configuration.authFailureLimit),
            maxPayload: configuration.maxPayload, maxForwardedHeaders: configuration.maxForwardedHeaders,
            hasCapacity: hasCapacity, ingest: configuration.ingest)
        push.storeFailures = storeFailures
        push.listeners = listeners
        webPush = WebPushService(
            store: store, committer: committer,
            limiter: RateLimiter(ratePerSecond: configuration.channelRate, burst: configuration.channelBurst),
            senderLimiter: RateLimiter(ratePerSecond: configuration.clientRate, burst: configuration.clientBurst),
            publicOrigin: publicOrigin, hasCapacity: hasCapacity, ingest: configuration.ingest)
        webPush.storeFailures = storeFailures
        webPush.listeners = listeners
    }

    /// The push listener's router (see ``PushRoutes/router(service:health:metrics:webPush:)``).
    package func router(health: Health, metrics: HostMetrics) -> Router<PushRequestContext> {
        PushRoutes.router(service: push, health: health, metrics: metrics, webPush: webPush)
    }
}
