import Foundation
import GRDB
import Synchronization
import TaskHostTestSupport
import Testing

@testable import TaskHostCore
@testable import TaskHostStore

/// The one group commit: concurrent callers share a commit, each gets its
/// own result once its batch is applied, batches keep the callers' order and
/// the engine's bound, and async callers' batches run off the cooperative
/// pool. Waits here are for conditions, bounded by the suite's time limit,
/// never timed; blocking callers run on threads of their own, never on the
/// cooperative pool that the suite's in-process servers answer on.
@Suite(.timeLimit(.minutes(1))) struct GroupCommitTests {
    struct Refused: Error {}

    /// A recording application whose first batch is held until the test
    /// lets it go, so that the items queued meanwhile form the next batches.
    final class Recorder: Sendable {
        let batches = Mutex<[[Int]]>([])
        let reports = Mutex<[GroupCommitBatch]>([])
        let threads = Mutex<[String]>([])
        let held = Mutex(true)
        let holding = Mutex(false)
        /// Items whose batch fails (whole-batch mode) or that fail alone (each-item mode).
        let failing: Set<Int>

        init(failing: Set<Int> = []) { self.failing = failing }

        func record(_ items: [Int]) {
            let thread = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "?"
            threads.withLock { $0.append(thread.trimmingCharacters(in: .newlines)) }
            let first = batches.withLock { batches in
                defer { batches.append(items) }
                return batches.isEmpty
            }
            if first {
                holding.withLock { $0 = true }
                while held.withLock({ $0 }) { usleep(500) }
            }
        }

        func release() { held.withLock { $0 = false } }

        /// Whole batch: stored, or failed for all when it holds a failing item.
        func wholeBatch(name: String = "gc-test", maxBatch: Int = .max) -> GroupCommit<Int, Void> {
            GroupCommit(
                name: name, maxBatch: maxBatch,
                application: .wholeBatch { [self] items throws(StoreError) in
                    record(items)
                    if items.contains(where: failing.contains) { throw StoreError("batch \(items) refused") }
                },
                closedError: StoreError("the test engine is closed"),
                onBatch: { [self] batch in reports.withLock { $0.append(batch) } })
        }

        /// Each item: its value doubled, or its own failure.
        func eachItem(maxBatch: Int = .max) -> GroupCommit<Int, Int> {
            GroupCommit(
                name: "gc-test-each", maxBatch: maxBatch,
                application: .eachItem { [self] items in
                    record(items)
                    return items.map { failing.contains($0) ? .failure(StoreError("item \($0) refused")) : .success($0 * 2) }
                },
                closedError: StoreError("the test engine is closed"),
                onBatch: { [self] batch in reports.withLock { $0.append(batch) } })
        }
    }

    /// Runs `body`, which blocks, on a thread of its own; the test suspends meanwhile.
    static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }

    /// Commits `first` from a thread of its own and waits until its batch is
    /// being applied (and held); then commits `rest` one after another, each
    /// queued before the next, from threads of their own; then lets the first
    /// batch go. Returns each item's result once all returned.
    static func commitHeld<Output: Sendable>(
        _ engine: GroupCommit<Int, Output>, _ recorder: Recorder, first: Int = 0, rest: [Int],
        beforeRelease: @Sendable () -> Void = {}
    ) -> [Int: Result<Output, StoreError>] {
        let results = Mutex<[Int: Result<Output, StoreError>]>([:])
        let group = DispatchGroup()
        for (index, item) in ([first] + rest).enumerated() {
            DispatchQueue.global().async(group: group) {
                let result = engine.commitAndWait(item)
                results.withLock { $0[item] = result }
            }
            if index == 0 {
                while !recorder.holding.withLock({ $0 }) { usleep(500) }
            } else {
                while engine.pendingCount < index { usleep(500) }
            }
        }
        beforeRelease()
        recorder.release()
        group.wait()
        return results.withLock { $0 }
    }

    @Test func concurrentCallersShareOneCommitAndTheHookHearsItsSize() async throws {
        let recorder = Recorder()
        let engine = recorder.eachItem()
        let results = try await Self.offPool { Self.commitHeld(engine, recorder, rest: Array(1...9)) }
        #expect(recorder.batches.withLock { $0 } == [[0], Array(1...9)])
        #expect(recorder.reports.withLock { $0 } == [.init(size: 1, failures: 0), .init(size: 9, failures: 0)])
        #expect(results.mapValues { try? $0.get() } == Dictionary(uniqueKeysWithValues: (0...9).map { ($0, $0 * 2) }))
    }

    @Test func batchesKeepTheCallersOrderAndTheMaximumBatch() async throws {
        let recorder = Recorder()
        let engine = recorder.wholeBatch(maxBatch: 4)
        let results = try await Self.offPool { Self.commitHeld(engine, recorder, rest: Array(1...10)) }
        #expect(recorder.batches.withLock { $0 } == [[0], [1, 2, 3, 4], [5, 6, 7, 8], [9, 10]])
        #expect(recorder.reports.withLock { $0.map(\.size) } == [1, 4, 4, 2])
        #expect(results.count == 11)
        #expect(results.values.allSatisfy { (try? $0.get()) != nil })
    }

    @Test func aFailingItemFailsAloneWhenItemsAreAppliedEachOnItsOwn() async throws {
        let recorder = Recorder(failing: [2])
        let engine = recorder.eachItem()
        let results = try await Self.offPool { Self.commitHeld(engine, recorder, rest: [1, 2, 3]) }
        #expect(results.mapValues { try? $0.get() } == [0: 0, 1: 2, 2: nil, 3: 6])
        #expect(results[2].map { "\($0)" }?.contains("item 2 refused") == true)
        #expect(recorder.reports.withLock { $0.last } == .init(size: 3, failures: 1))
    }

    @Test func aFailingWholeBatchFailsEveryCallerInIt() async throws {
        let recorder = Recorder(failing: [2])
        let engine = recorder.wholeBatch()
        let results = try await Self.offPool { Self.commitHeld(engine, recorder, rest: [1, 2, 3]) }
        #expect((try? results[0]?.get()) != nil, "the first batch was stored")
        for item in [1, 2, 3] {
            guard case .failure(let error)? = results[item] else {
                Issue.record("item \(item) was acknowledged from a failed batch")
                continue
            }
            #expect(error.message == "batch [1, 2, 3] refused")
        }
        #expect(recorder.reports.withLock { $0 } == [.init(size: 1, failures: 0), .init(size: 3, failures: 3)])
    }

    @Test func closeRefusesNewItemsAndCommitsWhatWasQueued() async throws {
        let recorder = Recorder()
        let engine = recorder.wholeBatch()
        let (results, refused) = try await Self.offPool {
            let refused = Mutex<Result<Void, StoreError>?>(nil)
            let results = Self.commitHeld(engine, recorder, rest: [1, 2, 3]) {
                engine.close()
                let result = engine.commitAndWait(4)
                refused.withLock { $0 = result }
            }
            return (results, refused.withLock { $0 })
        }
        guard case .failure(let error)? = refused else {
            Issue.record("an item queued after close() was taken")
            return
        }
        #expect(error.message == "the test engine is closed")
        #expect(results.count == 4)
        #expect(results.values.allSatisfy { (try? $0.get()) != nil })
        #expect(recorder.batches.withLock { $0 } == [[0], [1, 2, 3]])
    }

    @Test func asyncCallersBatchesRunOnTheEnginesThreadNeverOnTheCooperativePool() async {
        let recorder = Recorder()
        recorder.release()
        let engine = recorder.wholeBatch(name: "gc-test-async-thread")
        await withTaskGroup(of: Void.self) { group in
            for item in 0..<50 {
                group.addTask { _ = await engine.commit(item) }
            }
        }
        let threads = recorder.threads.withLock { $0 }
        #expect(!threads.isEmpty)
        #expect(threads.allSatisfy { $0 == "gc-test-async-t" }, "\(threads)")
        #expect(recorder.batches.withLock { $0.flatMap { $0 }.sorted() } == Array(0..<50))
        #expect(recorder.reports.withLock { $0.map(\.size).reduce(0, +) } == 50)
    }

    @Test func aSynchronousLeaderCommitsInlineOnItsOwnThread() async throws {
        let (value, inline) = try await Self.offPool {
            let caller = pthread_self()
            let applied = Mutex<pthread_t?>(nil)
            let engine = GroupCommit<Int, Int>(
                name: "gc-test-inline",
                application: .eachItem { items in
                    applied.withLock { $0 = pthread_self() }
                    return items.map { .success($0) }
                },
                closedError: StoreError("the test engine is closed"))
            let value = try engine.commitAndWait(7).get()
            return (value, applied.withLock { $0 }.map { pthread_equal($0, caller) != 0 } == true)
        }
        #expect(value == 7)
        #expect(inline, "the leader applied its batch on its own thread")
    }

    // MARK: The two uses, over a real store

    static func trigger() -> NewTrigger {
        NewTrigger(
            app: "a", task: "T",
            event: TriggerEvent(kind: .pushNotification, triggerId: NewTrigger.newId(), payload: Array("p".utf8), channelId: "c"))
    }

    @Test func ingestStoresEveryPushBeforeItsEnqueueReturns() async throws {
        let store = try TestSupport.store()
        let commits = Mutex(0)
        let committer = IngestCommitter(store: store, maxBatch: 16) { commits.withLock { $0 += 1 } }
        let missing = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<100 {
                group.addTask {
                    let trigger = Self.trigger()
                    try await committer.enqueue(trigger)
                    return try store.queuedTrigger(idPrefix: trigger.id) == nil
                }
            }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(missing == 0)
        #expect(try store.queueCounts() == [.pending: 100])
        #expect(commits.withLock { $0 } >= 100 / 16)
        committer.close()
        await #expect(throws: StoreError.self) { try await committer.enqueue(Self.trigger()) }
        #expect(try store.queueCounts() == [.pending: 100])
    }

    @Test func ingestFailsItsCallersWhenTheStoreRefusesTheBatch() async throws {
        let store = try TestSupport.store()
        let committer = IngestCommitter(store: store)
        // The queue's table is gone: the batch's transaction fails, and its
        // caller hears so instead of a 201 for a push that was not stored.
        try await store.pool.write { db in try db.execute(sql: "ALTER TABLE trigger RENAME TO trigger_gone") }
        await #expect(throws: StoreError.self) { try await committer.enqueue(Self.trigger()) }
        committer.close()
    }

    static func durableWrites() throws -> (DurableWrites, DatabasePool) {
        let store = try TestSupport.store()
        try store.pool.write { db in try db.execute(sql: "CREATE TABLE batched (x INTEGER NOT NULL)") }
        return (DurableWrites(savepointsIn: store.pool), store.pool)
    }

    static func insert(_ x: Int, _ db: Database) throws -> Any {
        try db.execute(sql: "INSERT INTO batched (x) VALUES (?)", arguments: [x])
        return x
    }

    static func stored(_ pool: DatabasePool) throws -> [Int] {
        try pool.read { db in try Int.fetchAll(db, sql: "SELECT x FROM batched ORDER BY x") }
    }

    @Test func concurrentDurableWritesAllLandEachWithItsOwnResult() async throws {
        let (writes, pool) = try Self.durableWrites()
        let mismatches = try await Self.offPool {
            let mismatches = Mutex(0)
            DispatchQueue.concurrentPerform(iterations: 200) { x in
                let result = writes.write("insert \(x)") { db in try Self.insert(x, db) }
                if (try? result.get()) as? Int != x { mismatches.withLock { $0 += 1 } }
            }
            return mismatches.withLock { $0 }
        }
        #expect(mismatches == 0)
        #expect(try Self.stored(pool) == Array(0..<200))
    }

    @Test func aFailingDurableWriteInASharedBatchIsRolledBackAlone() async throws {
        let (writes, pool) = try Self.durableWrites()
        let failures = try await Self.offPool {
            let failures = Mutex<[Int: String]>([:])
            let group = DispatchGroup()
            // The leader's write holds its batch open until three writes queue
            // behind it: they then share the next batch's transaction.
            let leading = Mutex(false)
            DispatchQueue.global().async(group: group) {
                _ = writes.write("insert 0") { db in
                    leading.withLock { $0 = true }
                    while writes.pendingCount < 3 { usleep(1_000) }
                    return try Self.insert(0, db)
                }
            }
            while !leading.withLock({ $0 }) { usleep(1_000) }
            for x in 1...3 {
                DispatchQueue.global().async(group: group) {
                    let result = writes.write("insert \(x)") { db in
                        let value = try Self.insert(x, db)
                        if x == 2 { throw Refused() }
                        return value
                    }
                    if case .failure(let error) = result { failures.withLock { $0[x] = error.message } }
                }
            }
            group.wait()
            return failures.withLock { $0 }
        }
        #expect(failures == [2: "store: cannot insert 2: Refused()"])
        #expect(try Self.stored(pool) == [0, 1, 3])
    }
}
