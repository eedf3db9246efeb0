import Foundation
import TaskHostCore
import TaskHostStore

/// One folder of the drop-in plugins directory: a `manifest.json` and the
/// shared libraries it names.
package struct PluginFolder: Sendable, Equatable {
    /// The folder's name: the plugin's name for the CLI.
    package var name: String
    /// The folder's path.
    package var path: String

    /// The most files a plugin folder may hold (the rest is not looked at).
    package static let maximumFiles = 256

    /// Creates a folder reference.
    package init(name: String, path: String) {
        self.name = name
        self.path = path
    }

    /// The plugin folders in `directory`, by name; hidden entries (`.name`,
    /// where a copy in progress can be prepared) are skipped.
    package static func list(in directory: String) -> [PluginFolder] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().compactMap { name in
            let path = directory + "/" + name
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { return nil }
            return PluginFolder(name: name, path: path)
        }
    }

    /// One file of the folder as it is on disk.
    package struct FileStamp: Sendable, Equatable {
        /// Its path relative to the folder.
        package var path: String
        /// Its size in bytes.
        package var size: Int64
        /// Its modification time, in nanoseconds since the epoch.
        package var modified: Int64
    }

    /// The folder's regular files (symbolic links followed), sorted by path.
    package func files() -> [FileStamp] {
        guard let walker = FileManager.default.enumerator(atPath: path) else { return [] }
        var stamps: [FileStamp] = []
        while let relative = walker.nextObject() as? String, stamps.count < Self.maximumFiles {
            if (relative as NSString).lastPathComponent.hasPrefix(".") { continue }
            var info = stat()
            guard stat(path + "/" + relative, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { continue }
            stamps.append(
                FileStamp(
                    path: relative, size: Int64(info.st_size),
                    modified: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)))
        }
        return stamps.sorted { $0.path < $1.path }
    }

    /// A digest of every file's (path, size, modification time): it changes
    /// when a file is added, removed, replaced or rewritten.
    package func fingerprint() -> String {
        StableID.hex(for: files().map { "\($0.path)\t\($0.size)\t\($0.modified)" }.joined(separator: "\n"), bytes: 12)
    }

    /// Copies the folder into `root/<name>/<fingerprint>` (unless that copy
    /// exists) and returns the copy's path. Instances load the copy, so a
    /// library rewritten in place in the drop-in folder never changes under
    /// a running instance, and a half-copied file is never loaded: the copy is
    /// kept only if the folder's fingerprint did not change while copying.
    package func stage(into root: String, fingerprint: String) throws -> String {
        let destination = root + "/" + name + "/" + fingerprint
        if FileManager.default.fileExists(atPath: destination) { return destination }
        let temporary = root + "/" + name + "/.staging-" + RandomToken.hex(bytes: 6)
        let manager = FileManager.default
        // The directories are private, as everything in the state directory:
        // a worker opens its library before it gives up root, so the sandbox
        // user never passes through them. The files keep their read bits
        // (not their write bits): the worker then loads the library through
        // its descriptor (/proc/self/fd/N), which the kernel checks against
        // the file's mode as the sandbox user; a library is code, not a secret.
        try PrivateFiles.createDirectory(temporary)
        do {
            for file in files() {
                let target = temporary + "/" + file.path
                try PrivateFiles.createDirectory((target as NSString).deletingLastPathComponent)
                // Resolve symbolic links: the copy holds the files themselves.
                let source = URL(fileURLWithPath: path + "/" + file.path).resolvingSymlinksInPath().path
                try manager.copyItem(atPath: source, toPath: target)
                var info = stat()
                if stat(target, &info) == 0 { _ = chmod(target, info.st_mode & 0o755) }
            }
            guard self.fingerprint() == fingerprint else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "\(path) changed while it was copied"])
            }
            try manager.moveItem(atPath: temporary, toPath: destination)
        } catch {
            try? manager.removeItem(atPath: temporary)
            throw error
        }
        return destination
    }
}
