import Foundation
import Logging
import ServiceLifecycle
import TaskHostConcurrency
import TaskHostCore
import TaskHostStore

/// Prunes the queue's settled triggers (and the history of their instances)
/// older than `--keep-done`: once the server is bound, then every
/// ``KeepDone/pruneInterval``, until shutdown. Each prune runs on an executor
/// of its own (`taskhost-prune`, one thread), never on the cooperative pool:
/// its batches wait for the write lock as any store write does. Not started
/// with ``KeepDone/forever`` (a service that returns would end the group).
struct QueuePruningService: Service {
    let store: any QueuePruningStore
    let keepDone: KeepDone
    let bound: StartGate
    let metrics: HostMetrics
    let logger: Logger

    private static let executor = BlockingExecutor(name: "taskhost-prune", maxThreads: 1)

    func run() async throws {
        await cancelWhenGracefulShutdown {
            guard await bound.wait() else { return }
            while !Task.isCancelled {
                await pruneOnce()
                try? await Task.sleep(for: keepDone.pruneInterval)
            }
        }
    }

    /// One prune: what it removed is counted and logged; a failure is logged
    /// and the next prune tries again.
    func pruneOnce() async {
        guard let cutoff = keepDone.cutoff(now: Date()) else { return }
        do {
            let result = try await Self.executor.run { [store] () throws(StoreError) -> PruneResult in
                try store.pruneSettled(before: cutoff)
            }
            metrics.triggersPruned(result.triggers)
            if result.triggers > 0 || result.instances > 0 {
                logger.info(
                    "pruned settled triggers",
                    metadata: ["triggers": "\(result.triggers)", "instances": "\(result.instances)", "keepDone": "\(keepDone)"])
            }
        } catch {
            logger.warning("cannot prune settled triggers; the next prune tries again", metadata: ["error": "\(error)"])
        }
    }
}
