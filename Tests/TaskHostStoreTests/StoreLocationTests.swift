import Foundation
import TaskHostStore
import TaskHostStoreBackends
import TaskHostStorePostgres
import TaskHostTestSupport
import Testing

/// `--store` and `$TASKHOST_STORE`: which backend, and the host id a
/// PostgreSQL store takes from the state directory.
struct StoreLocationTests {
    let state = StateDirectory(path: "/nonexistent/state")

    @Test func sqliteIsTheDefaultAndCanBeNamed() throws {
        #expect(try StoreLocation.parse(nil, stateDirectory: state, environment: [:]) == .stateDirectory(state))
        #expect(try StoreLocation.parse("sqlite", stateDirectory: state, environment: [:]) == .stateDirectory(state))
        #expect(try StoreLocation.parse("", stateDirectory: state, environment: ["TASKHOST_STORE": "sqlite"]) == .stateDirectory(state))
    }

    @Test func aPostgresURLFromTheOptionOrTheEnvironment() throws {
        let fromOption = try StoreLocation.parse("postgres://app:secret@db.example:6543/tasks", stateDirectory: state, environment: [:])
        guard case .postgres(let location, let directory) = fromOption else {
            Issue.record("expected PostgreSQL, got \(fromOption)")
            return
        }
        #expect(location.host == "db.example" && location.port == 6543 && location.user == "app" && location.database == "tasks")
        #expect(directory == state)
        #expect(fromOption.description == "postgres://app@db.example:6543/tasks", "no password in what is shown")
        let fromEnvironment = try StoreLocation.parse(
            nil, stateDirectory: state, environment: ["TASKHOST_STORE": "postgresql://u@/tasks?host=/run/postgresql"])
        #expect(fromEnvironment.isServer)
        // The option wins over the environment.
        #expect(
            try StoreLocation.parse("sqlite", stateDirectory: state, environment: ["TASKHOST_STORE": "postgres://u@h/d"])
                == .stateDirectory(state))
    }

    @Test func anythingElseIsAnErrorThatSaysWhatIsAccepted() {
        for value in ["mysql://u@h/d", "postgres.example.com", "SQLite"] {
            let error = #expect(throws: StoreError.self) { try StoreLocation.parse(value, stateDirectory: state, environment: [:]) }
            #expect(error?.message.contains("expected sqlite") == true, "\(value): \(String(describing: error))")
        }
        let secret = #expect(throws: StoreError.self) {
            try StoreLocation.parse("postgres://u:hunter2@h", stateDirectory: state, environment: [:])
        }
        #expect(secret?.message.contains("names no database") == true)
        #expect(secret?.message.contains("hunter2") == false, "the password is not repeated")
    }

    @Test func aHostKeepsItsIdInItsStateDirectory() throws {
        let directory = StateDirectory(path: TestSupport.temporaryDirectory() + "/state")
        let first = try StoreLocation.hostId(in: directory)
        #expect(first.count == 36, "a UUID: \(first)")
        #expect(try StoreLocation.hostId(in: directory) == first, "the same on every start")
        let attributes = try FileManager.default.attributesOfItem(atPath: directory.path + "/host-id")
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        #expect(try StoreLocation.hostId(in: StateDirectory(path: TestSupport.temporaryDirectory())) != first)
    }
}
