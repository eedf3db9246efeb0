import Foundation
import TaskHostCore
import TaskHostShared
import TaskHostStore
import TaskHostTestSupport
import Testing

/// Opening the store: a damaged or emptied database is refused with what to
/// do, a new one is created private, an existing one open to others is made private.
@Suite struct StoreIntegrityTests {
    @Test func aDatabaseDamagedInTheMiddleIsRefusedWithWhatToDo() throws {
        let directory = TestSupport.temporaryDirectory()
        let path = try StoreDamage.corruptedStore(in: directory)
        do {
            _ = try SQLiteTaskStore(path: path)
            Issue.record("a damaged store was opened")
        } catch {
            #expect(error.description.contains("the store \(path) is damaged"), "\(error)")
            #expect(error.description.contains("quick_check"), "\(error)")
            #expect(error.description.contains("restore the database from a backup") && error.description.contains(".recover"), "\(error)")
        }
    }

    @Test func anEmptyExistingDatabaseIsAnErrorAndANewOneIsCreatedPrivate() throws {
        let directory = TestSupport.temporaryDirectory()
        let path = directory + "/taskhost.sqlite"
        #expect(FileManager.default.createFile(atPath: path, contents: Data()))
        do {
            _ = try SQLiteTaskStore(path: path)
            Issue.record("an empty database file was opened as an empty store")
        } catch {
            #expect(error.description.contains("\(path) exists but is empty (0 bytes)"), "\(error)")
            #expect(error.description.contains("delete it (rm \(path)"), "\(error)")
        }
        #expect((try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) == 0, "the empty file is left as it was")

        // Deleted deliberately: a new store, with its files private.
        try FileManager.default.removeItem(atPath: path)
        let store = try SQLiteTaskStore(path: path)
        try store.setSetting(app: "a", key: "k", value: "v")
        for file in [path, path + "-wal", path + "-shm"] {
            #expect(StoreDamage.mode(file) == 0o600, "\(file): \(String(StoreDamage.mode(file) ?? 0, radix: 8))")
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: directory)
        #expect(!names.contains { $0.contains(".new-") }, "the database is made under another name, then renamed: \(names)")
    }

    @Test func anExistingDatabaseOpenToOthersIsMadePrivate() throws {
        let directory = TestSupport.temporaryDirectory()
        let path = directory + "/taskhost.sqlite"
        do {
            let store = try SQLiteTaskStore(path: path)
            try store.setSetting(app: "a", key: "k", value: "v")
        }
        #expect(chmod(path, 0o644) == 0 && chmod(directory, 0o755) == 0)
        let store = try SQLiteTaskStore(stateDirectory: StateDirectory(path: directory))
        #expect(try store.setting(app: "a", key: "k")?.value == "v")
        #expect(StoreDamage.mode(path) == 0o600)
        #expect(StoreDamage.mode(directory) == 0o700)
    }
}
