import Glibc
package import TaskHostManifest

/// Changes in logind's sessions directory (`/run/systemd/sessions`), from
/// inotify: a session file created, rewritten, renamed into place or removed.
/// The events are not parsed: any of them means "read the sessions again".
package final class SessionEvents: FactEvents, @unchecked Sendable {
    // Only the poller's thread uses the descriptor after `open(directory:)`.
    package private(set) var descriptor: Int32
    package let facts: Set<ConditionFact> = [.userPresent, .sessionConnected]

    private init(descriptor: Int32) { self.descriptor = descriptor }

    /// Watches `directory`; `nil` when it does not exist or inotify is refused (then the sessions are polled).
    package static func open(directory: String) -> SessionEvents? {
        let fd = inotify_init1(Int32(IN_NONBLOCK) | Int32(IN_CLOEXEC))
        guard fd >= 0 else { return nil }
        let mask = UInt32(IN_CREATE) | UInt32(IN_DELETE) | UInt32(IN_MOVED_TO) | UInt32(IN_MOVED_FROM) | UInt32(IN_CLOSE_WRITE)
        guard inotify_add_watch(fd, directory, mask) >= 0 else {
            Glibc.close(fd)
            return nil
        }
        return SessionEvents(descriptor: fd)
    }

    package func drain() -> Bool {
        guard descriptor >= 0 else { return false }
        var buffer = [UInt8](repeating: 0, count: 4096)
        var any = false
        while buffer.withUnsafeMutableBytes({ read(descriptor, $0.baseAddress, $0.count) }) > 0 { any = true }
        return any
    }

    /// Closes the descriptor.
    package func close() {
        if descriptor >= 0 { Glibc.close(descriptor) }
        descriptor = -1
    }
}
