import Foundation
package import Glibc
import TaskHostCore
import TaskHostStore

/// Stores made broken on purpose, and checks of file modes.
package enum StoreDamage {
    /// Creates a real store in `stateDirectory` holding `count` queued
    /// triggers (small rows: every page is a B-tree page), closes it, then
    /// overwrites 4 pages in the middle of the database file with garbage.
    /// Returns the database's path.
    @discardableResult
    package static func corruptedStore(in stateDirectory: String, count: Int = 3000) throws -> String {
        let state = StateDirectory(path: stateDirectory)
        do {
            let store = try SQLiteTaskStore(stateDirectory: state)
            let triggers = (0..<count).map { index in
                NewTrigger(app: "com.example.tests", task: "Echo", event: TriggerEvent(kind: .application, arguments: ["n": "\(index)"]))
            }
            try store.enqueue(triggers)
        }  // closed: the write-ahead log is checkpointed into the database and removed
        let path = state.databasePath
        let pageSize = 4096
        let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        let pages = size / pageSize
        precondition(pages >= 16, "the store is too small to damage in the middle: \(pages) pages")
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(pages / 2 * pageSize))
        var garbage = SeededGenerator(seed: 14)
        try handle.write(contentsOf: Data((0..<(4 * pageSize)).map { _ in UInt8.random(in: 0...255, using: &garbage) }))
        try handle.synchronize()
        return path
    }

    /// The entries under `root` (recursively, not following links) whose
    /// mode lets group or others in, as "path mode": a directory not 0700, a
    /// file with a group or other bit (only a write bit for files under
    /// `readable`); `skipping` subtrees are not looked at.
    package static func looseEntries(under root: String, skipping: Set<String> = [], readable: String? = nil) -> [String] {
        var loose: [String] = []
        var pending = [root]
        while let path = pending.popLast() {
            guard !skipping.contains(path) else { continue }
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }
            let mode = info.st_mode & 0o7777
            let isDirectory = (info.st_mode & S_IFMT) == S_IFDIR
            let others: mode_t = !isDirectory && readable.map({ path.hasPrefix($0 + "/") }) == true ? 0o022 : 0o077
            if mode & others != 0 || (isDirectory && mode != 0o700) {
                loose.append("\(path) \(String(mode, radix: 8))")
            }
            if isDirectory {
                for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] { pending.append(path + "/" + name) }
            }
        }
        return loose
    }

    /// The permission bits of `path` (nil when it does not exist).
    package static func mode(_ path: String) -> mode_t? {
        var info = stat()
        return lstat(path, &info) == 0 ? info.st_mode & 0o7777 : nil
    }
}
