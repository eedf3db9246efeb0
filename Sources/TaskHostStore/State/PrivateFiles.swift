package import Foundation
import Synchronization
import TaskHostIPC

/// The modes of what taskhost keeps in its state directory: the database
/// holds push payloads, forwarded headers (an `X-Api-Key`, say) and
/// credential hashes, so every file is readable and writable by its owner
/// only (0600) and every directory is the owner's alone (0700), whatever the
/// umask of the process that creates them.
///
/// An existing state directory or database that other users may read is made
/// private, with a warning on standard error saying what was changed (a
/// database made by an older taskhost was 0644); one that cannot be changed
/// (not this user's, or a shared directory such as `/tmp`) is refused.
package enum PrivateFiles {
    /// The mode of a directory taskhost creates.
    package static let directoryMode: mode_t = 0o700
    /// The mode of a file taskhost creates.
    package static let fileMode: mode_t = 0o600

    /// Creates the directory `path` and its missing parents (mode 0700,
    /// whatever the umask); an existing directory is left as it is.
    package static func createDirectory(_ path: String) throws(StoreError) {
        if mkdir(path, directoryMode) == 0 {
            _ = chmod(path, directoryMode)  // the umask may have taken bits off
            return
        }
        switch errno {
        case EEXIST:
            var info = stat()
            guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
                throw StoreError("cannot create the directory \(path): something that is not a directory is in the way")
            }
        case ENOENT:
            let parent = (path as NSString).deletingLastPathComponent
            guard !parent.isEmpty, parent != path else { throw StoreError("cannot create the directory \(path): \(lastError())") }
            try createDirectory(parent)
            guard mkdir(path, directoryMode) == 0 || errno == EEXIST else {
                throw StoreError("cannot create the directory \(path): \(lastError())")
            }
            _ = chmod(path, directoryMode)
        default:
            throw StoreError("cannot create the directory \(path): \(lastError())")
        }
    }

    /// Takes group's and others' access away from the existing file or
    /// directory `path` (`what` names it in messages), saying so on standard
    /// error. Nothing happens when it is already private or does not exist.
    ///
    /// - Throws: ``StoreError`` when it cannot be made private.
    package static func restrict(_ path: String, what: String) throws(StoreError) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        let mode = info.st_mode & 0o7777
        guard mode & 0o077 != 0 else { return }
        let kind = (info.st_mode & S_IFMT) == S_IFDIR ? "directory" : "file"
        let shown = String(mode, radix: 8)
        if mode & S_ISVTX != 0 {
            throw StoreError(
                "\(what) \(path) is a shared directory (mode \(shown), like /tmp), readable by other users; "
                    + "give taskhost a directory of its own (--state-dir or TASKHOST_STATE_DIR)")
        }
        let tightened = mode & 0o700
        guard chmod(path, tightened) == 0 else {
            throw StoreError(
                "\(what) \(path) is readable by other users (mode \(shown)) and taskhost cannot make it private: \(lastError()); "
                    + "as its owner, run chmod \(String(tightened, radix: 8)) \(path), or give taskhost a \(kind) of its own")
        }
        warn(
            "\(what) \(path) was open to other users (mode \(shown)); changed to \(String(tightened, radix: 8)). "
                + "Whatever it held could be read by other local users until now")
    }

    /// Where warnings go instead of standard error's plain lines (`serve
    /// --log-format json` sends them to its log).
    private static let warningSink = Mutex<(@Sendable (String) -> Void)?>(nil)

    /// Sends the warnings about file modes to `sink` from now on.
    package static func redirectWarnings(to sink: @escaping @Sendable (String) -> Void) {
        warningSink.withLock { $0 = sink }
    }

    /// Prints `message` on standard error as a warning (the daemon's log goes there too).
    static func warn(_ message: String) {
        if let sink = warningSink.withLock({ $0 }) {
            sink(message)
            return
        }
        // Not FileHandle: it traps when standard error is a closed pipe.
        FileDescriptorIO.writeAll(toFile: STDERR_FILENO, Array("taskhost: warning: \(message)\n".utf8))
    }

    static func lastError() -> String { String(cString: strerror(errno)) }
}
