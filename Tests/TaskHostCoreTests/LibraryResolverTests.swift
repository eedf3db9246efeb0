import Foundation
import TaskHostTestSupport
import Testing

@testable import TaskHostCore
@testable import TaskHostManifest
@testable import TaskHostStore

@Suite struct LibraryResolverTests {
    @Test func findsANamedLibraryInTheManifestDirectoryFirst() throws {
        let directory = Fixtures.temporaryDirectory()
        let other = Fixtures.temporaryDirectory()
        _ = FileManager.default.createFile(atPath: directory + "/libDemo.so", contents: Data())
        _ = FileManager.default.createFile(atPath: other + "/libDemo.so", contents: Data())
        let resolver = LibraryResolver(searchPaths: [other])
        #expect(try resolver.resolve("Demo", manifestDirectory: directory).get() == directory + "/libDemo.so")
    }

    @Test func searchesLibThenTheSearchPaths() throws {
        let directory = Fixtures.temporaryDirectory()
        let other = Fixtures.temporaryDirectory()
        _ = FileManager.default.createFile(atPath: other + "/libDemo.so", contents: Data())
        #expect(try LibraryResolver(searchPaths: [other]).resolve("Demo", manifestDirectory: directory).get() == other + "/libDemo.so")
        try FileManager.default.createDirectory(atPath: directory + "/lib", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: directory + "/lib/libDemo.so", contents: Data())
        #expect(
            try LibraryResolver(searchPaths: [other]).resolve("Demo", manifestDirectory: directory).get() == directory + "/lib/libDemo.so")
    }

    @Test func pathsAreRelativeToTheManifest() throws {
        let directory = Fixtures.temporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory + "/plugins", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: directory + "/plugins/custom.so", contents: Data())
        let resolver = LibraryResolver(searchPaths: [])
        #expect(try resolver.resolve("plugins/custom.so", manifestDirectory: directory).get() == directory + "/plugins/custom.so")
        #expect(try resolver.resolve(directory + "/plugins/custom.so", manifestDirectory: "/").get() == directory + "/plugins/custom.so")
    }

    @Test func aMissingLibraryListsWhereItLooked() {
        let directory = Fixtures.temporaryDirectory()
        let result = LibraryResolver(searchPaths: ["/opt/none"]).resolve("Demo", manifestDirectory: directory)
        guard case .failure(let notFound) = result else {
            Issue.record("found a library that does not exist")
            return
        }
        #expect(notFound.tried == [directory + "/libDemo.so", directory + "/lib/libDemo.so", "/opt/none/libDemo.so"])
        #expect(notFound.description.hasPrefix("Library \"Demo\" not found; looked for \(directory)/libDemo.so, "))
        #expect(notFound.description.hasSuffix("(build it with `swift build`, or add its directory with --library-path)"))
    }
}
