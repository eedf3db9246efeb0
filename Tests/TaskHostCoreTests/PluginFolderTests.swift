import Foundation
import TaskHostPlugins
import TaskHostTestSupport
import Testing

/// A folder of the drop-in plugins directory: which folders count, which files,
/// the fingerprint that tells a changed plugin, and the staged copy instances load.
@Suite struct PluginFolderTests {
    static func write(_ text: String, to path: String) throws {
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    @Test func listHoldsVisibleDirectoriesByName() throws {
        let root = TestSupport.temporaryDirectory()
        try Self.write("{}", to: root + "/zeta/manifest.json")
        try Self.write("{}", to: root + "/alpha/manifest.json")
        try Self.write("{}", to: root + "/.copying/manifest.json")
        try Self.write("not a folder", to: root + "/loose-file")
        #expect(PluginFolder.list(in: root).map(\.name) == ["alpha", "zeta"])
        #expect(PluginFolder.list(in: root + "/missing").isEmpty)
    }

    @Test func filesAreSortedAndSkipHiddenOnes() throws {
        let root = TestSupport.temporaryDirectory()
        try Self.write("{}", to: root + "/p/manifest.json")
        try Self.write("lib", to: root + "/p/lib/libA.so")
        try Self.write("tmp", to: root + "/p/.libA.so.part")
        let files = PluginFolder(name: "p", path: root + "/p").files()
        #expect(files.map(\.path) == ["lib/libA.so", "manifest.json"])
        #expect(files.map(\.size) == [3, 2])
    }

    @Test func theFingerprintChangesWithAnyFileAndOnlyThen() throws {
        let root = TestSupport.temporaryDirectory()
        let folder = PluginFolder(name: "p", path: root + "/p")
        try Self.write("{}", to: folder.path + "/manifest.json")
        let first = folder.fingerprint()
        #expect(folder.fingerprint() == first)
        try Self.write("lib", to: folder.path + "/libA.so")
        let added = folder.fingerprint()
        #expect(added != first)
        try Self.write("lib, longer", to: folder.path + "/libA.so")
        #expect(folder.fingerprint() != added)
        try FileManager.default.removeItem(atPath: folder.path + "/libA.so")
        #expect(folder.fingerprint() == first)
    }

    @Test func stagingCopiesTheFolderOnceUnderItsFingerprint() throws {
        let root = TestSupport.temporaryDirectory()
        let folder = PluginFolder(name: "p", path: root + "/drop/p")
        try Self.write("{\"a\": 1}", to: folder.path + "/manifest.json")
        try Self.write("library", to: folder.path + "/lib/libA.so")
        let fingerprint = folder.fingerprint()
        let staged = try folder.stage(into: root + "/staged", fingerprint: fingerprint)
        #expect(staged == root + "/staged/p/" + fingerprint)
        #expect(try String(contentsOfFile: staged + "/lib/libA.so", encoding: .utf8) == "library")
        #expect(try String(contentsOfFile: staged + "/manifest.json", encoding: .utf8) == "{\"a\": 1}")
        // The copy is not rewritten when the drop-in folder changes later.
        try Self.write("changed", to: folder.path + "/lib/libA.so")
        #expect(try folder.stage(into: root + "/staged", fingerprint: fingerprint) == staged)
        #expect(try String(contentsOfFile: staged + "/lib/libA.so", encoding: .utf8) == "library")
    }

    @Test func aFolderThatChangedSinceItsFingerprintIsNotStaged() throws {
        let root = TestSupport.temporaryDirectory()
        let folder = PluginFolder(name: "p", path: root + "/drop/p")
        try Self.write("{}", to: folder.path + "/manifest.json")
        let stale = folder.fingerprint()
        try Self.write("new", to: folder.path + "/libB.so")
        #expect(throws: (any Error).self) { try folder.stage(into: root + "/staged", fingerprint: stale) }
        // Nothing half-copied is left where instances would load it.
        #expect(!FileManager.default.fileExists(atPath: root + "/staged/p/" + stale))
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: root + "/staged/p")) ?? []
        #expect(leftovers.isEmpty)
    }
}
