import CoreMetrics
import Foundation
package import Logging
import Synchronization
import TaskHostConcurrency
package import TaskHostCore
package import TaskHostStore

/// The foreground listeners of this host (`GET /listen/v1/APP`, issue 18):
/// who listens to which app, what each is sent, and their claims.
///
/// A push is handed to the hub only once it is durably stored (after the
/// group commit that acknowledges it), and the hub sends it to every listener
/// of its app as one JSON text message (``ListenerMessage``). Each listener
/// has a bounded outbound buffer (``bufferLimit`` messages): a listener that
/// does not read fills it and is dropped, its connection closed with the
/// reason, so a slow listener costs the host a bounded amount of memory and
/// never holds back ingest. While a listener that claims is connected to an
/// app, that app's pushes are stored with `availableAt` delayed by their task's
/// claim window, so the dispatcher takes none before the window ends; the
/// hub wakes the dispatcher when it does.
package final class ListenerHub: Sendable {
    /// One connected listener.
    package final class Listener: Sendable {
        /// A number unique in this hub.
        package let id: Int
        /// The app it listens to.
        package let app: String
        /// Whether it may claim (`?claim=true`): its app's pushes then wait for the claim window.
        package let claims: Bool
        /// What its connection writes, in order.
        package let outgoing: AsyncStream<ListenerOutgoing>
        let continuation: AsyncStream<ListenerOutgoing>.Continuation
        /// Why it was dropped, once it was.
        private let dropReason = Mutex<String?>(nil)
        /// Closes its connection at once (a listener whose buffer is full is not reading).
        private let closeConnection: @Sendable () -> Void

        init(id: Int, app: String, claims: Bool, bufferLimit: Int, closeConnection: @escaping @Sendable () -> Void) {
            self.id = id
            self.app = app
            self.claims = claims
            (outgoing, continuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingOldest(bufferLimit))
            self.closeConnection = closeConnection
        }

        /// Queues `message`; `false` when the buffer is full (the listener does not
        /// read), `true` when it was queued or the listener is gone already.
        @discardableResult
        func send(_ message: ListenerOutgoing) -> Bool {
            if case .dropped = continuation.yield(message) { return false }
            return true
        }

        /// Why the hub dropped it (`nil`: it was not dropped).
        package var droppedBecause: String? { dropReason.withLock { $0 } }

        /// Drops it: nothing more is queued, its connection is closed.
        func drop(_ reason: String) {
            let first = dropReason.withLock { current in
                guard current == nil else { return false }
                current = reason
                return true
            }
            guard first else { return }
            continuation.finish()
            closeConnection()
        }
    }

    /// The answer to a listener's `claim <id>`.
    package enum ClaimAnswer: Sendable, Equatable {
        /// This listener claimed the trigger: no instance runs for it.
        case claimed
        /// Not claimed, and why (another claim came first, it was dispatched, not a push of this app…).
        case refused(String)
    }

    /// Messages each listener may have waiting to be written before it is dropped.
    package let bufferLimit: Int
    private let store: any ListenerClaimStore
    private let claimWindow: @Sendable (_ app: String, _ task: String) -> Duration
    private let wake: @Sendable () -> Void
    private let metrics: HostMetrics
    private let logger: Logger
    /// Claims are store writes: off the cooperative pool.
    private let claims = BlockingExecutor(name: "taskhost-claims", maxThreads: 2)
    private let listeners = Mutex<(next: Int, byApp: [String: [Int: Listener]])>((0, [:]))

    /// The default of ``bufferLimit``: 256 messages (at most about 3 MB with
    /// the largest pushes, 5 KB of payload and 4 KB of headers each).
    package static let defaultBufferLimit = 256

    /// A hub whose claims are written to `store`; `claimWindow(app, task)` is
    /// the task's claim window (the manifest's `ClaimWindowMs`), `wake` wakes
    /// the dispatcher (a claim window ended).
    package init(
        store: any ListenerClaimStore, claimWindow: @escaping @Sendable (String, String) -> Duration,
        wake: @escaping @Sendable () -> Void, bufferLimit: Int = ListenerHub.defaultBufferLimit, metrics: HostMetrics = .disabled,
        logger: Logger = Logger(label: "taskhost.listen")
    ) {
        self.store = store
        self.claimWindow = claimWindow
        self.wake = wake
        self.bufferLimit = max(1, bufferLimit)
        self.metrics = metrics
        self.logger = logger
    }

    /// Adds a listener of `app`; `closeConnection` closes its connection (when it is dropped).
    package func register(app: String, claims: Bool, closeConnection: @escaping @Sendable () -> Void) -> Listener {
        listeners.withLock { state in
            state.next += 1
            let listener = Listener(
                id: state.next, app: app, claims: claims, bufferLimit: bufferLimit, closeConnection: closeConnection)
            state.byApp[app, default: [:]][listener.id] = listener
            return listener
        }
    }

    /// Removes a listener (its connection ended). Its claims in flight still
    /// settle or not in the store; nothing else changes.
    package func unregister(_ listener: Listener) {
        listeners.withLock { state in
            state.byApp[listener.app]?[listener.id] = nil
            if state.byApp[listener.app]?.isEmpty == true { state.byApp[listener.app] = nil }
        }
        listener.continuation.finish()
    }

    /// Closes every listener's connection (the host is shutting down: a
    /// listener is never an open request to wait for).
    package func closeAll() {
        let all = listeners.withLock { state in
            defer { state.byApp = [:] }
            return state.byApp.values.flatMap(\.values)
        }
        for listener in all { listener.drop("the host is shutting down") }
    }

    /// How many listeners `app` has now.
    package func count(app: String) -> Int { listeners.withLock { $0.byApp[app]?.count ?? 0 } }

    /// How long a push for `task` of `app` waits before it may be dispatched:
    /// the task's claim window while a listener that claims is connected to
    /// the app, zero otherwise.
    package func claimDelay(app: String, task: String) -> Duration {
        let claiming = listeners.withLock { $0.byApp[app]?.values.contains { $0.claims } ?? false }
        return claiming ? claimWindow(app, task) : .zero
    }

    /// Sends a stored push to every listener of its app; `delay` is the claim
    /// window it was stored with (the dispatcher is woken when it ends).
    package func published(_ trigger: NewTrigger, delay: Duration) {
        if delay > .zero {
            let wake = wake
            Task {
                try? await Task.sleep(for: delay + .milliseconds(1))
                wake()
            }
        }
        let targets = listeners.withLock { $0.byApp[trigger.app].map { Array($0.values) } ?? [] }
        guard !targets.isEmpty else { return }
        let message = ListenerMessage.push(trigger, claimWindow: delay)
        for listener in targets where !listener.send(.text(message)) {
            guard listener.droppedBecause == nil else { continue }
            let reason = "listener too slow: \(bufferLimit) messages unread"
            logger.warning(
                "dropped a listener that does not read", metadata: ["app": "\(listener.app)", "listener": "\(listener.id)"])
            if metrics.isEnabled { metrics.counter("taskhost_listeners_dropped_total").increment() }
            unregister(listener)
            listener.drop(reason)
        }
    }

    /// Settles trigger `id` as claimed for `listener`, if it still may be
    /// (see ``ListenerClaimStore/claimForListener(id:app:at:)``).
    package func claim(_ id: String, by listener: Listener) async -> ClaimAnswer {
        guard listener.claims else {
            return .refused("this listener only observes: connect with ?claim=true to claim pushes")
        }
        let store = store
        let app = listener.app
        let result = await claims.run { () -> Result<Bool, StoreError> in
            Result { () throws(StoreError) in try store.claimForListener(id: id, app: app, at: Date()) }
        }
        switch result {
        case .success(true): return .claimed
        case .success(false):
            return .refused("not pending: already claimed or dispatched, expired, or not a push of \(app)")
        case .failure(let error):
            logger.error("a listener's claim could not be stored", metadata: ["trigger": "\(id)", "error": "\(error)"])
            return .refused("the host could not store the claim (\(error.code.rawValue)); the push runs as usual")
        }
    }
}

/// What a listener's connection writes.
package enum ListenerOutgoing: Sendable, Equatable {
    /// A text message (JSON).
    case text(String)
    /// The answer to a ping, with its data.
    case pong([UInt8])
}
