import Foundation
import GRDB
import Synchronization
@testable import TaskHostCore
import TaskHostTestSupport
import Testing

/// The store's group commit: concurrent durable writes share a transaction,
/// each in a savepoint of its own, and each caller gets its own result.
@Suite(.timeLimit(.minutes(1))) struct CommitBatcherTests {
    struct Refused: Error {}

    /// What a caller got back, in a form that crosses threads.
    enum Outcome: Sendable, Equatable {
        case value(Int), refused, other(String)

        init(_ result: Result<Any, any Error>) {
            switch result {
            case .success(let value): self = (value as? Int).map(Outcome.value) ?? .other("\(value)")
            case .failure(let error): self = error is Refused ? .refused : .other("\(error)")
            }
        }
    }

    static func batcher() throws -> (CommitBatcher, DatabasePool) {
        let store = try TestSupport.store()
        try store.pool.write { db in try db.execute(sql: "CREATE TABLE batched (x INTEGER NOT NULL)") }
        return (CommitBatcher(pool: store.pool), store.pool)
    }

    static func insert(_ x: Int, _ db: Database) throws -> Any {
        try db.execute(sql: "INSERT INTO batched (x) VALUES (?)", arguments: [x])
        return x
    }

    static func stored(_ pool: DatabasePool) throws -> [Int] {
        try pool.read { db in try Int.fetchAll(db, sql: "SELECT x FROM batched ORDER BY x") }
    }

    @Test func aLoneWriteReturnsItsValueAndIsStored() throws {
        let (batcher, pool) = try Self.batcher()
        let result = batcher.commit { db in try Self.insert(42, db) }
        #expect(try result.get() as? Int == 42)
        #expect(try Self.stored(pool) == [42])
    }

    @Test func concurrentWritesAllLandEachWithItsOwnResult() throws {
        let (batcher, pool) = try Self.batcher()
        let mismatches = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 200) { x in
            let result = batcher.commit { db in try Self.insert(x, db) }
            if (try? result.get()) as? Int != x { mismatches.withLock { $0 += 1 } }
        }
        #expect(mismatches.withLock { $0 } == 0)
        #expect(try Self.stored(pool) == Array(0..<200))
    }

    @Test func aFailingWriteInASharedRoundIsRolledBackAlone() throws {
        let (batcher, pool) = try Self.batcher()
        let results = Mutex<[Int: Outcome]>([:])
        let group = DispatchGroup()
        // The leader's write holds its round open until three writes queue
        // behind it: they then share the next round's transaction.
        let leading = Mutex(false)
        DispatchQueue.global().async(group: group) {
            let result = batcher.commit { db in
                leading.withLock { $0 = true }
                while batcher.pendingCount < 3 { usleep(1_000) }
                return try Self.insert(0, db)
            }
            let outcome = Outcome(result)
            results.withLock { $0[0] = outcome }
        }
        while !leading.withLock({ $0 }) { usleep(1_000) }
        for x in 1...3 {
            DispatchQueue.global().async(group: group) {
                let result = batcher.commit { db in
                    let value = try Self.insert(x, db)
                    if x == 2 { throw Refused() }
                    return value
                }
                let outcome = Outcome(result)
                results.withLock { $0[x] = outcome }
            }
        }
        group.wait()
        let all = results.withLock { $0 }
        #expect(all.count == 4)
        #expect(all == [0: .value(0), 1: .value(1), 2: .refused, 3: .value(3)])
        #expect(try Self.stored(pool) == [0, 1, 3])
    }
}
