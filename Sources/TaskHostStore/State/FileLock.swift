import Foundation
import TaskHostIPC

/// An advisory `flock(2)` lock on a file, held for as long as the value lives.
///
/// `flock` locks belong to an open file description, so two opens of the same
/// file conflict even within one process, and a lock is released by the
/// kernel when its holder dies, however it dies. Descriptors are opened
/// close-on-exec, so that no child process (a worker) keeps a lock alive.
final class FileLock: Sendable {
    /// The locked file.
    let path: String
    /// The open descriptor that holds the lock.
    let descriptor: Int32

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    /// What happened when a lock was asked for.
    enum Attempt {
        case acquired(FileLock)
        /// Another open file description holds it.
        case held
        /// There is no such file (only when not creating).
        case missing
        case failed(String)
    }

    /// Takes the exclusive lock on `path` without waiting, creating the file
    /// (mode 0600) when `create` is true.
    static func tryExclusive(path: String, create: Bool) -> Attempt {
        let flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0)
        let descriptor = open(path, flags, 0o600)
        guard descriptor >= 0 else {
            let code = errno
            return code == ENOENT && !create ? .missing : .failed("cannot open \(path): \(String(cString: strerror(code)))")
        }
        if flock(descriptor, LOCK_EX | LOCK_NB) == 0 { return .acquired(FileLock(path: path, descriptor: descriptor)) }
        let code = errno
        close(descriptor)
        return code == EWOULDBLOCK ? .held : .failed("cannot lock \(path): \(String(cString: strerror(code)))")
    }

    /// Takes the exclusive lock on `path`, waiting for whoever holds it,
    /// creating the file (mode 0600).
    static func exclusive(path: String) -> Attempt {
        let descriptor = open(path, O_RDWR | O_CLOEXEC | O_CREAT, 0o600)
        guard descriptor >= 0 else { return .failed("cannot open \(path): \(String(cString: strerror(errno)))") }
        while flock(descriptor, LOCK_EX) != 0 {
            guard errno == EINTR else {
                let code = errno
                close(descriptor)
                return .failed("cannot lock \(path): \(String(cString: strerror(code)))")
            }
        }
        return .acquired(FileLock(path: path, descriptor: descriptor))
    }

    /// Whether some open file description holds an exclusive lock on `path`,
    /// found by asking for a shared lock (given back at once). A file that does not exist is not held.
    static func isHeld(path: String) -> Bool {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        if flock(descriptor, LOCK_SH | LOCK_NB) == 0 {
            flock(descriptor, LOCK_UN)
            return false
        }
        return errno == EWOULDBLOCK
    }

    /// Replaces the file's content (the lock stays on the same file).
    func write(_ text: String) throws(StoreError) {
        guard ftruncate(descriptor, 0) == 0, lseek(descriptor, 0, SEEK_SET) == 0 else {
            throw StoreError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        let failure = FileDescriptorIO.writeAll(toFile: descriptor, Array(text.utf8))
        guard failure == 0 else { throw StoreError("cannot write \(path): \(String(cString: strerror(failure)))") }
    }
}
