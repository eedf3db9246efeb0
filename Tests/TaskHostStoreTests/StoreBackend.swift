import Synchronization
import TaskHostConcurrency
import TaskHostStore
import TaskHostStoreBackends
import TaskHostStorePostgres
import TaskHostTestSupport
import Testing

/// A backend the store's behavioural tests run against: each such test takes
/// one as its argument (`@Test(arguments: await StoreBackend.available())`),
/// so that every backend is held to the same behaviour. Tests of one
/// backend's own mechanics (SQLite's file modes, its WAL, its query plans,
/// its result codes; PostgreSQL's leases and fences) construct that backend
/// directly instead.
enum StoreBackend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    /// The embedded SQLite database, in a fresh state directory.
    case sqlite
    /// A fresh database on the tests' PostgreSQL server (``PostgresServer``).
    case postgresql

    /// The backends this machine can run: SQLite always; PostgreSQL when its
    /// server is there or under CI (where a missing server fails the tests).
    /// Otherwise the reason it is left out is printed, once.
    static func available() async -> [StoreBackend] {
        guard case .failure(let reason) = await PostgresServer.current(), !ExternalTools.underCI else { return allCases }
        if !reasonPrinted.exchange(true, ordering: .relaxed) {
            print("skipped: the store's conformance tests on PostgreSQL: \(reason.message)")
        }
        return [.sqlite]
    }

    private static let reasonPrinted = Atomic<Bool>(false)

    /// Where the conformance tests call the stores: threads of their own, as
    /// the host calls its store from `BlockingExecutor` threads, never the
    /// cooperative pool (a PostgreSQL call blocks its thread until the server
    /// answers, which would stall every other test of the process meanwhile).
    static let threads = BlockingExecutor(name: "store-tests", maxThreads: 16)

    /// Runs `body` on one of ``threads`` with a fresh, empty store of this
    /// backend, and a way to open another store object on the same data (a
    /// restart, or another host); closes and deletes it all afterwards.
    func withStore(_ body: @escaping @Sendable (any HostStore, _ reopen: @Sendable () throws -> any HostStore) throws -> Void)
        async throws
    {
        switch self {
        case .sqlite:
            let location = StoreLocation.stateDirectory(StateDirectory(path: TestSupport.temporaryDirectory() + "/state"))
            try await Self.threads.run { () throws(any Error) in
                try body(try location.open()) { try location.open() }
            }
        case .postgresql:
            let database = try await TestDatabase()
            do {
                try await Self.threads.run { () throws(any Error) in
                    let opened = Mutex<[PostgresTaskStore]>([])
                    let open = { @Sendable () throws -> any HostStore in
                        let store = try database.store()
                        opened.withLock { $0.append(store) }
                        return store
                    }
                    defer { for store in opened.withLock({ $0 }) { store.close() } }
                    try body(try open(), open)
                }
            } catch {
                try? await database.drop()
                throw error
            }
            try await database.drop()
        }
    }

    var testDescription: String { rawValue }
}
