import Logging
import ServiceLifecycle
import Synchronization
import TaskHostStore

/// Wakes the dispatcher when another host made a trigger runnable (a store
/// that is a ``QueueWakeupSource``: PostgreSQL's `LISTEN`/`NOTIFY`), once the
/// server is bound, until shutdown.
///
/// When the listen cannot connect or loses its connection, it logs a warning
/// once per outage, with the error, and listens again after a backoff
/// (``backoff``: 100 ms doubling to 5 s); once it listens again it says so and
/// wakes the dispatcher once, for what was committed meanwhile. The dispatcher's
/// polling finds runnable triggers meanwhile, as it does without this service.
/// The listen is async all the way (postgres-nio's event loops): it never
/// blocks a thread of the cooperative pool.
struct QueueWakeupService: Service {
    let source: any QueueWakeupSource
    let bound: StartGate
    let wake: @Sendable () -> Void
    let logger: Logger
    /// The waits between listens that failed: the first, then doubled up to the last.
    var backoff = Backoff(first: .milliseconds(100), maximum: .seconds(5))

    func run() async throws {
        await cancelWhenGracefulShutdown {
            guard await bound.wait() else { return }
            await listen()
        }
    }

    /// Listens, and listens again after each failure, until the task is cancelled.
    func listen() async {
        // The last wait of the outage under way (`nil`: none).
        var lastWait: Duration?
        while !Task.isCancelled {
            let listened = Listened()
            let reconnecting = lastWait != nil
            do {
                try await source.listenForWakeups(
                    listening: {
                        listened.set()
                        if reconnecting {
                            logger.info("listening for wake-ups from other hosts again")
                        } else {
                            logger.debug("listening for wake-ups from other hosts")
                        }
                        // For what was committed while nothing listened.
                        wake()
                    }, wake: wake)
                return  // cancelled
            } catch {
                if Task.isCancelled { return }
                if listened.isSet { lastWait = nil }  // the last outage ended; this is a new one
                if lastWait == nil {
                    logger.warning(
                        "lost the wake-ups from other hosts; polling the queue meanwhile and listening again",
                        metadata: ["error": "\(error)"])
                }
                let wait = lastWait.map { backoff.next(after: $0) } ?? backoff.first
                lastWait = wait
                try? await Task.sleep(for: wait)
            }
        }
    }

    /// Waits that double from `first` up to `maximum`.
    struct Backoff: Sendable {
        var first: Duration
        var maximum: Duration

        /// The wait after `previous`.
        func next(after previous: Duration) -> Duration { min(previous * 2, maximum) }
    }

    /// Whether one listen got as far as listening.
    private final class Listened: Sendable {
        private let flag = Atomic<Bool>(false)
        func set() { flag.store(true, ordering: .relaxed) }
        var isSet: Bool { flag.load(ordering: .relaxed) }
    }
}
