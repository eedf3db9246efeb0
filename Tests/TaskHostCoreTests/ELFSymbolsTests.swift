import Foundation
import TaskHostTestSupport
import Testing

@testable import TaskHostCore
@testable import TaskHostManifest
@testable import TaskHostStore

/// Reading what a library exports without loading it (`taskhost plugins inspect`).
@Suite struct ELFSymbolsTests {
    @Test func findsTheTaskClassesAndTheEntrySymbolOfASwiftPlugin() throws {
        let symbols = try ELFSymbols.read(path: Fixtures.buildDirectory + "/libBackgroundTasks.so")
        #expect(symbols.functions.contains("taskhost_plugin_v1"))
        #expect(symbols.swiftClasses == ["BackgroundTasks.SampleBackgroundTask"], "the SDK's own classes are left out")
        #expect(symbols.cFunctions.contains("taskhost_plugin_v1"))
        #expect(!symbols.cFunctions.contains { $0.hasPrefix("$s") })
    }

    @Test func listsTheCFunctionsOfACLibrary() throws {
        let symbols = try ELFSymbols.read(path: Fixtures.buildDirectory + "/libCrashingConstructor.so")
        #expect(symbols.cFunctions.contains("crashing_constructor_marker"))
        #expect(symbols.swiftClasses.isEmpty)
    }

    @Test func refusesWhatIsNotAnELFLibrary() throws {
        let path = Fixtures.temporaryDirectory() + "/fake.so"
        try Data("not a library".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: ELFError.self) { try ELFSymbols.read(path: path) }
        let truncated = Fixtures.temporaryDirectory() + "/truncated.so"
        let library = try Data(contentsOf: URL(fileURLWithPath: Fixtures.buildDirectory + "/libBackgroundTasks.so"))
        try library.prefix(100).write(to: URL(fileURLWithPath: truncated))
        #expect(throws: ELFError.self) { try ELFSymbols.read(path: truncated) }
        #expect(throws: ELFError.self) { try ELFSymbols.read(path: "/nonexistent.so") }
    }
}
