package import Foundation
import PostgresNIO
package import TaskHostStore

/// Pruning: settled triggers leave the queue once they are older than the
/// retention (`--keep-done`), and the history of their instances with them,
/// as in SQLite's store.
extension PostgresTaskStore: QueuePruningStore {
    /// Deletes in transactions of at most `batchSize` rows each (an instance
    /// with more log lines than that goes alone, in one of its own), so that
    /// no transaction holds many row locks long. Timers' triggers stay: the
    /// row of a period is what keeps the scheduler from firing it again;
    /// their instances' history is pruned all the same.
    package func pruneSettled(before cutoff: Date, batchSize: Int) throws(StoreError) -> PruneResult {
        let batch = max(1, batchSize)
        var result = PruneResult()
        while true {
            // The settled index (trigger_settled), oldest first.
            let deleted = try execute(
                "prune settled triggers",
                """
                DELETE FROM trigger WHERE id IN (
                    SELECT id FROM trigger
                    WHERE state IN ('done', 'dead', 'expired', 'claimed') AND kind != 'time' AND updated_at < \(cutoff)
                    ORDER BY updated_at LIMIT \(batch))
                RETURNING 1
                """)
            result.triggers += deleted
            if deleted < batch { break }
        }
        while true {
            let (deleted, more) = try transaction("prune the history of pruned triggers") { connection, logger in
                try await Self.pruneInstances(before: cutoff, batch: batch, connection, logger)
            }
            result.instances += deleted
            if !more || deleted == 0 { break }
        }
        return result
    }

    /// Deletes, in the caller's transaction, the oldest instances that ended
    /// before `cutoff` and whose trigger left the queue (pruned, replaced, or
    /// never queued: `taskhost run`) or is a timer's trigger settled before
    /// it, with their log lines, about `batch` rows in all; returns how many
    /// instances, and whether more may remain.
    private static func pruneInstances(
        before cutoff: Date, batch: Int, _ connection: PostgresConnection, _ logger: Logger
    ) async throws -> (Int, Bool) {
        var candidates: [(String, Int)] = []
        for try await row in try await connection.query(
            """
            SELECT id, (SELECT COUNT(*) FROM log_line WHERE instance_id = instance.id)::bigint FROM instance
            WHERE started_at < \(cutoff) AND outcome IS NOT NULL AND ended_at IS NOT NULL AND ended_at < \(cutoff)
                AND NOT EXISTS (
                    SELECT 1 FROM trigger WHERE trigger.id = instance.trigger_id
                        AND NOT (trigger.kind = 'time' AND trigger.state IN ('done', 'dead', 'expired')
                            AND trigger.updated_at < \(cutoff)))
            ORDER BY started_at, seq LIMIT \(batch)
            """, logger: logger
        ).decode((String, Int).self) {
            candidates.append(row)
        }
        var rows = 0
        var taken: [String] = []
        for (id, lines) in candidates {
            if !taken.isEmpty, rows + 1 + lines > batch { break }
            rows += 1 + lines
            taken.append(id)
        }
        if !taken.isEmpty {
            try await connection.query("DELETE FROM log_line WHERE instance_id = ANY(\(taken))", logger: logger)
            try await connection.query("DELETE FROM instance WHERE id = ANY(\(taken))", logger: logger)
        }
        return (taken.count, taken.count < candidates.count || candidates.count == batch)
    }
}
