import Foundation
import TaskHostTestSupport
import Testing

/// The CLI on a state directory it should not trust as it is: open to other
/// users (made private, saying so), a damaged or emptied database (refused).
@Suite struct StateDirectoryCLITests {
    func taskhost(_ arguments: [String], state: String) throws -> TaskHostCommand.Result {
        try TaskHostCommand.run(arguments, in: TestSupport.temporaryDirectory(), stateDirectory: state)
    }

    @Test func aStateDirectoryAndDatabaseOpenToOthersAreMadePrivateWithAWarning() throws {
        let state = TestSupport.temporaryDirectory() + "/state"
        #expect(try taskhost(["queue"], state: state).status == 0)
        let database = state + "/taskhost.sqlite"
        #expect(StoreDamage.mode(state) == 0o700 && StoreDamage.mode(database) == 0o600, "a new state directory is private")

        // As an older taskhost (and a umask of 022) left them.
        #expect(chmod(state, 0o755) == 0 && chmod(database, 0o644) == 0)
        let result = try taskhost(["queue"], state: state)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(
            result.stderr.contains("warning: the state directory \(state) was open to other users (mode 755); changed to 700"),
            "\(result.stderr)")
        #expect(
            result.stderr.contains("warning: the database \(database) was open to other users (mode 644); changed to 600"),
            "\(result.stderr)")
        #expect(StoreDamage.mode(state) == 0o700 && StoreDamage.mode(database) == 0o600)

        let again = try taskhost(["queue"], state: state)
        #expect(again.status == 0 && !again.stderr.contains("warning"), "once private, nothing more is said: \(again.stderr)")
    }

    @Test func aCommandRefusesADamagedStore() throws {
        let state = TestSupport.temporaryDirectory()
        let path = try StoreDamage.corruptedStore(in: state)
        for command in [["queue"], ["settings", "list", "--app", "com.example.tests"]] {
            let result = try taskhost(command, state: state)
            #expect(result.status == 1, "\(command)")
            #expect(
                result.stderr.contains("the store \(path) is damaged") && result.stderr.contains(".recover"), "\(command): \(result.stderr)"
            )
        }
    }

    @Test func aCommandRefusesAnEmptyDatabaseFile() throws {
        let state = TestSupport.temporaryDirectory()
        let path = state + "/taskhost.sqlite"
        #expect(FileManager.default.createFile(atPath: path, contents: Data()))
        let result = try taskhost(["queue"], state: state)
        #expect(result.status == 1)
        #expect(result.stderr.contains("\(path) exists but is empty (0 bytes)"), "\(result.stderr)")
    }
}
