import Foundation
import TaskHostTestSupport
import Testing

@testable import TaskHostCore
@testable import TaskHostIsolation
@testable import TaskHostManifest
@testable import TaskHostPlugins
@testable import TaskHostStore

/// What the host says about a dropped-in folder it cannot use: in the
/// plugins directory's terms, not the CLI's (`--manifest`, `--library-path`).
@Suite struct PluginValidationTests {
    let checker = ManifestChecker(
        resolver: LibraryResolver(searchPaths: []), inspector: PluginInspector(workerPath: Fixtures.workerPath))

    @Test func aFolderWithoutAManifestIsNamed() throws {
        let folder = Fixtures.temporaryDirectory() + "/weather"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let validation = PluginManager.validate(
            directory: folder, plugin: "weather", checker: checker, reservedIdentity: nil, registry: nil)
        #expect(
            validation.problems == [
                "plugin folder \"weather\" has no manifest.json (\(folder)/manifest.json); a plugin folder holds its manifest.json and the libraries it names"
            ])
        #expect(!validation.problems.joined().contains("--manifest"))
    }

    @Test func aMissingLibrarySaysItBelongsInTheFolder() throws {
        let folder = Fixtures.temporaryDirectory() + "/weather"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try """
        {"Identity": {"Name": "com.example.weather"}, "BackgroundTasks": [
          {"Name": "Sync", "TaskEntryPoint": "Weather.Sync", "Library": "Weather", "Triggers": [{"Type": "Application"}]}]}
        """.write(toFile: folder + "/manifest.json", atomically: true, encoding: .utf8)
        let validation = PluginManager.validate(
            directory: folder, plugin: "weather", checker: checker, reservedIdentity: nil, registry: nil)
        let problem = try #require(validation.problems.first)
        #expect(
            problem == "task \"Sync\": Library \"Weather\" not found in the plugin folder; looked for \(folder)/libWeather.so, "
                + "\(folder)/lib/libWeather.so (a plugin folder holds its libraries: put the library in the folder or its lib/)")
        #expect(!problem.contains("--library-path"))
    }
}
