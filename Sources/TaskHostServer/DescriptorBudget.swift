import Foundation
package import TaskHostIsolation

/// The open-file limit of `taskhost serve`, and how its descriptors are
/// shared between HTTP connections and everything else the host keeps open.
package enum DescriptorBudget {
    /// The process's open-file limit (`RLIMIT_NOFILE`): soft and hard.
    package struct Limit: Sendable, Equatable {
        /// The limit in force.
        package var soft: Int
        /// The most the soft limit may be raised to without privileges.
        package var hard: Int
    }

    /// The open-file limit now.
    package static func current() -> Limit {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return Limit(soft: 1024, hard: 1024) }
        return Limit(soft: clamp(limit.rlim_cur), hard: clamp(limit.rlim_max))
    }

    /// Raises the soft open-file limit to the hard limit (what a service
    /// manager such as systemd leaves at 1,024 by default) and returns the
    /// limit in force afterwards.
    @discardableResult
    package static func raiseToHard() -> Limit {
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised)
        }
        return current()
    }

    /// Descriptors the host keeps for itself whatever runs: standard streams,
    /// the store (the database, its `-wal` and `-shm` files for each of the
    /// pool's connections), the host and supervisor locks, the listener, the
    /// event loops' epoll, event and timer descriptors, logs, and a scan of
    /// the plugins directory (a scanner worker: 8).
    static let fixedReserve = 64

    /// Descriptors one running instance may hold at its peak: the host's
    /// ends of its IPC socket and two pipes and its pidfd (4), the child's
    /// ends while it starts (3), and its working directory or a cgroup file
    /// while they are handed over or written (1).
    static let perInstance = 8

    /// Descriptors one pre-forked zygote holds: its own socket, pipes and
    /// pidfd (4), its spare worker's (4), and a fork's child ends (3).
    static let perZygote = 11

    /// Zygotes budgeted at least (one per plugin library and network
    /// policy; plugins dropped in later get theirs too).
    static let minimumZygotes = 8

    /// The fewest connections the default allows, however low the limit.
    static let minimumConnections = 16

    /// Descriptors kept out of the connection budget for `concurrency`
    /// instances and, with pre-forking, the zygotes of `libraries` libraries.
    package static func reserve(concurrency: Int, libraries: Int, isolation: IsolationMode) -> Int {
        let zygotes = isolation == .prefork ? max(minimumZygotes, 2 * libraries) : 0
        return fixedReserve + perInstance * concurrency + perZygote * zygotes
    }

    /// The default cap on concurrent HTTP connections: what the open-file
    /// limit leaves after ``reserve(concurrency:libraries:isolation:)``,
    /// never fewer than 16.
    package static func defaultMaxConnections(limit: Int, concurrency: Int, libraries: Int, isolation: IsolationMode) -> Int {
        max(minimumConnections, limit - reserve(concurrency: concurrency, libraries: libraries, isolation: isolation))
    }

    private static func clamp(_ value: rlim_t) -> Int {
        value >= rlim_t(Int.max) ? Int.max : Int(value)
    }
}
