package import Foundation

/// The host that holds a state directory, as it recorded itself in `host.lock`.
package struct HostInfo: Sendable, Equatable, Codable {
    /// The host's process id.
    package var pid: Int32
    /// When it started.
    package var startedAt: Date
    /// The address it listens on (`127.0.0.1:18092`); `nil` until it is bound.
    package var address: String?
    /// Its public URL, the base of channel URIs (`http://127.0.0.1:18092`); `nil` until it is bound.
    package var publicURL: String?

    /// Creates a record.
    package init(pid: Int32, startedAt: Date, address: String? = nil, publicURL: String? = nil) {
        self.pid = pid
        self.startedAt = startedAt
        self.address = address
        self.publicURL = publicURL
    }

    /// `pid 1234 on 127.0.0.1:8080` (or `pid 1234, still starting`).
    package var summary: String {
        let who = pid > 0 ? "pid \(pid)" : "pid unknown"
        return address.map { "\(who) on \($0)" } ?? "\(who), still starting"
    }
}

/// Why a host cannot take a state directory.
package struct HostLockError: Error, Sendable, CustomStringConvertible {
    /// The host that holds it, when one does.
    package var holder: HostInfo?
    /// What went wrong and what to do.
    package var description: String
}

/// One host per state directory: `taskhost serve` holds an exclusive `flock`
/// on `host.lock` in the state directory for as long as it runs, taken before
/// it touches the queue. The file names the holder (pid, start time, and once
/// bound its address and public URL), so that a second host can say which one
/// runs and the CLI can find it (``holder(of:)``) without taking the lock.
/// The kernel releases the lock when the host dies, however it dies.
package final class HostLock: Sendable {
    /// The state directory this lock holds.
    package let stateDirectory: StateDirectory
    private let lock: FileLock
    private let startedAt: Date

    private init(stateDirectory: StateDirectory, lock: FileLock, startedAt: Date) {
        self.stateDirectory = stateDirectory
        self.lock = lock
        self.startedAt = startedAt
    }

    /// The lock file of `state`.
    package static func path(in state: StateDirectory) -> String { state.path + "/host.lock" }

    /// Takes the state directory for this process, creating it if needed.
    ///
    /// - Throws: ``HostLockError`` naming the running host when another one holds it.
    package static func acquire(_ state: StateDirectory) throws(HostLockError) -> HostLock {
        do {
            try state.create()
        } catch {
            throw HostLockError(holder: nil, description: error.description)
        }
        let path = path(in: state)
        // A reader asking "who holds it" takes a shared lock for an instant: try a few times.
        for attempt in 0..<50 {
            switch FileLock.tryExclusive(path: path, create: true) {
            case .acquired(let lock):
                let hostLock = HostLock(stateDirectory: state, lock: lock, startedAt: Date())
                do {
                    try hostLock.record(HostInfo(pid: getpid(), startedAt: hostLock.startedAt))
                } catch {
                    throw HostLockError(holder: nil, description: error.description)
                }
                return hostLock
            case .held:
                if attempt < 49 { usleep(10_000) }
            case .failed(let message):
                throw HostLockError(holder: nil, description: "\(message); check the state directory's permissions")
            case .missing:
                throw HostLockError(holder: nil, description: "cannot create \(path); check the state directory's permissions")
            }
        }
        let holder = read(path: path)
        throw HostLockError(
            holder: holder,
            description: "another taskhost serve (\(holder?.summary ?? "pid unknown")) is running on the state directory \(state.path);"
                + " one host at a time may use a state directory: stop that one first, or give this one another --state-dir")
    }

    /// Records that the host is bound: its address and public URL, read by
    /// ``holder(of:)`` (e.g. by `taskhost channels create`).
    package func recordListening(address: String, publicURL: String) throws(StoreError) {
        try record(HostInfo(pid: getpid(), startedAt: startedAt, address: address, publicURL: publicURL))
    }

    private func record(_ info: HostInfo) throws(StoreError) {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(info) else { throw StoreError("cannot encode the host's record") }
        try lock.write(String(decoding: data, as: UTF8.self) + "\n")
    }

    /// The host running on `state`, if one is; this never takes the lock away from a host starting.
    package static func holder(of state: StateDirectory) -> HostInfo? {
        let path = path(in: state)
        guard FileLock.isHeld(path: path) else { return nil }
        return read(path: path) ?? HostInfo(pid: 0, startedAt: Date())
    }

    private static func read(path: String) -> HostInfo? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        return try? decoder.decode(HostInfo.self, from: data)
    }
}
