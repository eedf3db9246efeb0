package import Foundation
import GRDB

/// Pruning: settled triggers leave the queue once they are older than the
/// retention (`--keep-done`), and the history of their instances with them.
extension SQLiteTaskStore: QueuePruningStore {
    /// Settled triggers before the cutoff, oldest first, but timer triggers:
    /// the row of a period is what keeps the scheduler from firing that
    /// period again (its id is derived from the period and enqueueing is
    /// idempotent), and a `OneShot` timer's only row is what keeps it from
    /// firing again after a restart. They carry no payload (a row of about
    /// 200 bytes per period); their instances' history is pruned all the same.
    static let pruneTriggersSQL = """
        DELETE FROM trigger WHERE rowid IN (
            SELECT rowid FROM trigger INDEXED BY trigger_settled
            WHERE state IN ('done', 'dead', 'expired', 'claimed') AND kind != 'time' AND updated_at < ? ORDER BY updated_at LIMIT ?)
        """

    /// Instances that ended before the cutoff and whose trigger left the
    /// queue (pruned, replaced, or never queued: `taskhost run`) or is a
    /// timer's trigger settled before the cutoff, oldest first, each with
    /// the number of its log lines.
    static let prunableInstancesSQL = """
        SELECT id, (SELECT COUNT(*) FROM log_line WHERE instance_id = instance.id) AS lines
        FROM instance INDEXED BY instance_by_start
        WHERE started_at < ? AND outcome IS NOT NULL AND ended_at IS NOT NULL AND ended_at < ?
            AND NOT EXISTS (
                SELECT 1 FROM trigger WHERE trigger.id = instance.trigger_id
                    AND NOT (trigger.kind = 'time' AND trigger.state IN ('done', 'dead', 'expired') AND trigger.updated_at < ?))
        ORDER BY started_at LIMIT ?
        """

    /// Deletes in transactions of at most `batchSize` rows each (an instance
    /// with more log lines than that goes alone, in one of its own): the
    /// write lock is released between them, so that pushes and settlements
    /// keep committing while a large backlog is pruned. Not fsync'd on its
    /// own: a prune lost with the power is done again by the next one.
    package func pruneSettled(before cutoff: Date, batchSize: Int) throws(StoreError) -> PruneResult {
        let batch = max(1, batchSize)
        let time = cutoff.timeIntervalSince1970
        var result = PruneResult()
        while true {
            let deleted = try writeRelaxed("prune settled triggers") { db in
                try db.cachedStatement(sql: Self.pruneTriggersSQL).execute(arguments: [time, batch])
                return db.changesCount
            }
            result.triggers += deleted
            if deleted < batch { break }
        }
        while true {
            let (deleted, more) = try writeRelaxed("prune the history of pruned triggers") { db -> (Int, Bool) in
                let candidates = try Row.fetchAll(db.cachedStatement(sql: Self.prunableInstancesSQL), arguments: [time, time, time, batch])
                var rows = 0
                var taken: [String] = []
                for row in candidates {
                    let lines: Int = row["lines"]
                    if !taken.isEmpty, rows + 1 + lines > batch { break }
                    rows += 1 + lines
                    taken.append(row["id"])
                }
                let lines = try db.cachedStatement(sql: "DELETE FROM log_line WHERE instance_id = ?")
                let instance = try db.cachedStatement(sql: "DELETE FROM instance WHERE id = ?")
                for id in taken {
                    try lines.execute(arguments: [id])
                    try instance.execute(arguments: [id])
                }
                return (taken.count, taken.count < candidates.count || candidates.count == batch)
            }
            result.instances += deleted
            if !more || deleted == 0 { break }
        }
        return result
    }
}
