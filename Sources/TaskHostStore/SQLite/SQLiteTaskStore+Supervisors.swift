import Foundation
import GRDB

/// Instances whose supervising process died: each process that records
/// instances holds a ``SupervisorLock`` and writes its token in their rows;
/// whoever opens the store settles the rows of the processes that are gone.
extension SQLiteTaskStore {
    /// Where the supervisors' lock files are: `hosts/` beside the database.
    static func supervisorDirectory(databasePath: String) -> String {
        (databasePath as NSString).deletingLastPathComponent + "/hosts"
    }

    static let unfinishedSupervisorsSQL = "SELECT DISTINCT supervisor FROM instance WHERE outcome IS NULL"
    static let abandonSQL = """
        UPDATE instance SET outcome = 'abandoned', ended_at = ?,
            outcome_detail = 'its host (pid ' || host_pid || ') stopped before the instance ended; no outcome was recorded'
        WHERE outcome IS NULL AND supervisor = ?
        """

    /// Settles as ``InstanceOutcome/abandoned(_:)`` every instance without an
    /// outcome whose supervising process is gone (its lock file is free or
    /// missing); rows written before supervisors were recorded are settled
    /// when their host's pid is no longer alive. Returns how many were settled.
    /// Opening the store does this, and removes the lock files of processes
    /// that ended with no instance left to settle.
    @discardableResult
    package func settleAbandonedInstances() throws(StoreError) -> Int {
        let directory = Self.supervisorDirectory(databasePath: path)
        let (tokens, hasUntracked) = try read("list unfinished instances") { db -> ([String], Bool) in
            let all = try Optional<String>.fetchAll(db, sql: Self.unfinishedSupervisorsSQL)
            return (all.compactMap { $0 }, all.contains(nil))
        }
        let ownToken = currentSupervisorToken
        let gone = tokens.filter { $0 != ownToken && SupervisorLock.isGone(directory: directory, token: $0) }
        var deadHosts: [Int32] = []
        if hasUntracked {
            let pids = try read("list unfinished instances") { db in
                try Int32.fetchAll(db, sql: "SELECT DISTINCT host_pid FROM instance WHERE outcome IS NULL AND supervisor IS NULL")
            }
            deadHosts = pids.filter { $0 != getpid() && kill($0, 0) != 0 && errno == ESRCH }
        }
        SupervisorLock.sweep(directory: directory)
        guard !gone.isEmpty || !deadHosts.isEmpty else { return 0 }
        return try write("settle the instances of hosts that stopped") { db in
            let now = Date().timeIntervalSince1970
            var settled = 0
            for token in gone {
                try db.execute(sql: Self.abandonSQL, arguments: [now, token])
                settled += db.changesCount
            }
            for pid in deadHosts {
                try db.execute(
                    sql: Self.abandonSQL.replacingOccurrences(of: "supervisor = ?", with: "supervisor IS NULL AND host_pid = ?"),
                    arguments: [now, pid])
                settled += db.changesCount
            }
            return settled
        }
    }
}
