import Foundation
import TaskHostCore

/// The mark of a process that supervises instances (`taskhost serve`, `taskhost run`):
/// an exclusive `flock` on `hosts/<token>.lock` in the state directory, held
/// for the process's lifetime, whose token is recorded in each instance row
/// it writes. When the lock can be taken (or its file is gone), the process
/// is gone, however it died, and its instances without an outcome are
/// settled as abandoned (see ``SQLiteTaskStore/settleAbandonedInstances()``).
/// Unlike a pid, a token is never reused.
final class SupervisorLock: Sendable {
    /// The token recorded in the instance rows.
    let token: String
    private let lock: FileLock

    /// Creates and locks a lock file of its own in `directory`.
    init(directory: String) throws(StoreError) {
        try PrivateFiles.createDirectory(directory)
        let token = RandomToken.hex(bytes: 12)
        switch FileLock.tryExclusive(path: Self.path(directory: directory, token: token), create: true) {
        case .acquired(let lock):
            self.token = token
            self.lock = lock
            try lock.write("\(getpid())\n")
        case .held, .missing:
            throw StoreError("cannot lock a new file in \(directory)")
        case .failed(let message):
            throw StoreError("\(message); check the state directory's permissions")
        }
    }

    /// The process ends or closes its store: nothing it supervises can still
    /// get an outcome from it.
    deinit { unlink(lock.path) }

    /// Removes the lock files in `directory` that no process holds and that
    /// are older than `age` (a process that ended after its instances did
    /// leaves one; a file just created may not be locked yet, hence the age).
    /// Returns how many were removed.
    @discardableResult
    static func sweep(directory: String, olderThan age: TimeInterval = 60, now: Date = Date()) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var removed = 0
        for name in names where name.hasSuffix(".lock") && isWellFormed(String(name.dropLast(5))) {
            let path = directory + "/" + name
            guard let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
                now.timeIntervalSince(modified) > age
            else { continue }
            if case .acquired(let lock) = FileLock.tryExclusive(path: path, create: false) {
                unlink(lock.path)
                removed += 1
            }
        }
        return removed
    }

    static func path(directory: String, token: String) -> String { directory + "/" + token + ".lock" }

    /// Whether a token is one this type makes (so it is safe in a path).
    static func isWellFormed(_ token: String) -> Bool {
        !token.isEmpty && token.count <= 64 && token.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    /// Whether the process that holds `token` is gone. A lock found free is
    /// taken and its file removed, so that it is looked at only once.
    static func isGone(directory: String, token: String) -> Bool {
        guard isWellFormed(token) else { return true }
        let path = path(directory: directory, token: token)
        switch FileLock.tryExclusive(path: path, create: false) {
        case .acquired(let lock):
            unlink(lock.path)
            return true
        case .missing: return true
        case .held, .failed: return false
        }
    }
}
