import Foundation

/// Finds the shared library a manifest's `Library` field names.
///
/// A value containing `/` or ending in `.so` is a path, relative to the
/// manifest's directory. Any other value is a library name: `BackgroundTasks`
/// is looked up as `libBackgroundTasks.so` in, in order, the manifest's
/// directory, its `lib/` subdirectory, every directory of `--library-path` and
/// `TASKHOST_LIBRARY_PATH` (colon-separated), and the directory of the
/// `taskhost` executable (where `swift build` puts the sample plugin).
package struct LibraryResolver: Sendable {
    /// Extra directories to search, in order, after the manifest's own.
    package var searchPaths: [String]

    /// A resolver with `extraPaths`, then `TASKHOST_LIBRARY_PATH`, then the executable's directory.
    package static func standard(
        extraPaths: [String] = [], environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> LibraryResolver {
        var paths = extraPaths
        if let fromEnvironment = environment["TASKHOST_LIBRARY_PATH"] {
            paths += fromEnvironment.split(separator: ":").map(String.init)
        }
        if let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            paths.append((executable as NSString).deletingLastPathComponent)
        }
        return LibraryResolver(searchPaths: paths)
    }

    /// Creates a resolver that searches `searchPaths` after the manifest's directory.
    package init(searchPaths: [String]) {
        self.searchPaths = searchPaths
    }

    /// The file name a library name stands for: `BackgroundTasks` → `libBackgroundTasks.so`.
    package static func fileName(forLibrary name: String) -> String { "lib\(name).so" }

    /// The absolute path of `library`, or the places it was looked for.
    package func resolve(_ library: String, manifestDirectory: String) -> Result<String, LibraryNotFound> {
        let base = Self.absolute(manifestDirectory, relativeTo: FileManager.default.currentDirectoryPath)
        let candidates: [String]
        if library.contains("/") || library.hasSuffix(".so") {
            candidates = [Self.absolute(library, relativeTo: base)]
        } else {
            let file = Self.fileName(forLibrary: library)
            candidates = ([base, base + "/lib"] + searchPaths).map { Self.absolute($0, relativeTo: base) + "/" + file }
        }
        var seen = Set<String>()
        let unique = candidates.filter { seen.insert($0).inserted }
        if let found = unique.first(where: { FileManager.default.isReadableFile(atPath: $0) }) {
            return .success((found as NSString).standardizingPath)
        }
        return .failure(LibraryNotFound(library: library, tried: unique))
    }

    /// `path` made absolute against `base` (unchanged when already absolute).
    package static func absolute(_ path: String, relativeTo base: String) -> String {
        let joined = path.hasPrefix("/") ? path : base + "/" + path
        return (joined as NSString).standardizingPath
    }
}

/// A library that is in none of the places searched.
package struct LibraryNotFound: Error, Sendable, Equatable, CustomStringConvertible {
    /// The manifest's `Library` value.
    package var library: String
    /// Every path tried.
    package var tried: [String]

    /// What was not found, where it was looked for, and what to do.
    package var description: String {
        "Library \"\(library)\" not found; looked for " + tried.joined(separator: ", ")
            + " (build it with `swift build`, or add its directory with --library-path)"
    }

    /// The message for a dropped-in plugin folder, where `--library-path` does
    /// not apply: the library must be in the folder or its `lib/`.
    package var pluginFolderDescription: String {
        "Library \"\(library)\" not found in the plugin folder; looked for " + tried.joined(separator: ", ")
            + " (a plugin folder holds its libraries: put the library in the folder or its lib/)"
    }
}
