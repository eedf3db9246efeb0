import GRDB

/// One durable write of the store: its body, and what it does (for the
/// error its caller gets).
struct DurableWrite {
    /// What the write does, as in "store: cannot <what>: …".
    var what: String
    /// The write; its value is handed back to its caller.
    var body: (Database) throws -> Any
}

/// The store's group commit of durable writes (`synchronous = FULL`):
/// settlements, outcomes, settings of concurrent callers share one
/// transaction, each write in a savepoint of its own, so that a write that
/// throws is rolled back alone and only its caller gets the error.
///
/// Callers are threads of their own (executors' threads, the CLI's main
/// thread): they use ``GroupCommit/commitAndWait(_:)``, and the first of them
/// commits the batch inline, on its own thread.
typealias DurableWrites = GroupCommit<DurableWrite, Any>

extension GroupCommit where Item == DurableWrite, Output == Any {
    /// The durable writes of `pool`, batched without bound.
    convenience init(savepointsIn pool: DatabasePool) {
        self.init(
            name: "taskhost-store-gc", application: .eachItem { writes in Self.commit(writes, in: pool) },
            closedError: StoreError("store: the store is closed; the write was not made"))
    }

    /// Runs `body` in a durable transaction, possibly shared with others,
    /// and returns its value once it is durable.
    func write(_ what: String, _ body: (Database) throws -> Any) -> Result<Any, StoreError> {
        withoutActuallyEscaping(body) { body in commitAndWait(DurableWrite(what: what, body: body)) }
    }

    /// Commits `writes` in one transaction, each in a savepoint of its own.
    private static func commit(_ writes: [DurableWrite], in pool: DatabasePool) -> [Result<Any, StoreError>] {
        var results: [Result<Any, StoreError>] = []
        results.reserveCapacity(writes.count)
        do {
            try pool.write { db in
                if writes.count == 1, let write = writes.first {
                    // Alone in its transaction: no savepoint needed (nor its two statements).
                    results.append(.success(try write.body(db)))
                    return
                }
                for write in writes {
                    do {
                        var value: Any?
                        try db.inSavepoint {
                            value = try write.body(db)
                            return .commit
                        }
                        results.append(.success(value!))
                    } catch {
                        results.append(.failure(SQLiteTaskStore.failure(write.what, error)))
                    }
                }
            }
        } catch {
            // The commit itself failed: nothing of this batch is stored.
            return writes.map { .failure(SQLiteTaskStore.failure($0.what, error)) }
        }
        return results
    }
}
