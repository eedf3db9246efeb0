import TaskHostStore
import TaskHostTestSupport
import Testing

/// A backend the store's behavioural tests run against: each such test takes
/// one as its argument (`@Test(arguments: StoreBackend.available)`), so that
/// every backend is held to the same behaviour. Tests of one backend's own
/// mechanics (SQLite's file modes, its WAL, its query plans, its result
/// codes) construct that backend directly instead.
enum StoreBackend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    /// The embedded SQLite database, in a fresh state directory.
    case sqlite

    /// The backends this machine can run (SQLite always).
    static var available: [StoreBackend] { [.sqlite] }

    /// Where a fresh, empty store of this backend is (each call: another one).
    func freshLocation() -> StoreLocation {
        switch self {
        case .sqlite: .stateDirectory(StateDirectory(path: TestSupport.temporaryDirectory() + "/state"))
        }
    }

    /// A fresh, empty store of this backend.
    func open() throws -> any HostStore {
        try freshLocation().open()
    }

    var testDescription: String { rawValue }
}
