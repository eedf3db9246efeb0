import Foundation
import Logging
import ServiceLifecycle
import TaskHostConcurrency
import TaskHostManifest
import TaskHostPlugins
import TaskHostStore

/// Keeps this host's place in a store that several hosts share (PostgreSQL):
/// its claims are restricted to the tasks it has loaded, from before its first
/// claim and at every change of its registry; every third of the lease it
/// records a heartbeat (its name and those tasks) and extends the leases of
/// the triggers it runs. A lease it lost (the host was frozen or cut off
/// longer than the lease, and another host claimed the trigger again) is
/// logged: that instance's outcome will not be recorded here (fencing).
///
/// Its store calls run on an executor of its own (`taskhost-heartbeat`, one
/// thread), never on the cooperative pool. A failed beat is logged once per
/// outage and retried at the next interval: while the database is away the
/// leases run out, and the triggers go to whichever host reaches it first.
struct HostHeartbeatService: Service {
    let store: any SharedQueueStore
    let registry: TaskRegistry
    /// This host's name, for `taskhost history` and the `hosts` table.
    let name: String
    let logger: Logger

    private static let executor = BlockingExecutor(name: "taskhost-heartbeat", maxThreads: 1)

    /// Restricts the store's claims to the tasks `registry` holds now and after each change.
    static func restrictClaims(of store: any SharedQueueStore, to registry: TaskRegistry) {
        store.restrictClaims(to: tasks(of: registry))
        registry.observeChanges { store.restrictClaims(to: tasks(of: registry)) }
    }

    /// The tasks `registry` holds, as `app/task`.
    static func tasks(of registry: TaskRegistry) -> [String] {
        registry.all.map { "\($0.app.identity.name)/\($0.task.name)" }
    }

    /// A third of the lease: two beats may fail before a lease runs out.
    var interval: Duration { store.leaseDuration / 3 }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var failing = false
            while !Task.isCancelled {
                failing = await beat(failing: failing)
                try? await Task.sleep(for: interval)
            }
        }
    }

    /// One heartbeat and lease extension; returns whether it failed (to log an outage once).
    func beat(failing: Bool) async -> Bool {
        let tasks = Self.tasks(of: registry)
        do {
            let lost = try await Self.executor.run { [store, name] () throws(StoreError) -> [String] in
                let now = Date()
                try store.heartbeat(name: name, tasks: tasks, now: now)
                return try store.extendLeases(now: now)
            }
            if failing { logger.notice("heartbeat recorded again; leases are extended") }
            for trigger in lost {
                logger.warning(
                    "lost the lease of a running trigger: another host claimed it after the lease ran out; this host will not record its outcome",
                    metadata: ["trigger": "\(trigger)"])
            }
            return false
        } catch {
            if !failing {
                logger.error(
                    "cannot record the heartbeat or extend leases; retrying every \(interval)",
                    metadata: ["error": "\(error)", "lease": "\(store.leaseDuration)"])
            }
            return true
        }
    }
}
