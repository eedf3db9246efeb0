import Glibc
package import TaskHostManifest

/// `FreeStorage`: at least ``minimumBytes`` available to unprivileged users
/// (`statvfs`: `f_bavail` × `f_frsize`) on the filesystem of the state
/// directory. Read every 30 s.
package struct FreeStorageProbe: FactProbe {
    package let fact = ConditionFact.freeStorage
    package let interval: Duration = .seconds(30)
    /// The state directory.
    package var path: String
    /// The least free space for the condition to hold (`--min-free-storage`).
    package var minimumBytes: UInt64

    /// Creates a probe.
    package init(path: String, minimumBytes: UInt64) {
        self.path = path
        self.minimumBytes = minimumBytes
    }

    package var source: String { "statvfs of \(path): at least \(Self.format(minimumBytes)) available (every 30 s)" }

    package func read() -> FactReading {
        var stats = statvfs()
        guard statvfs(path, &stats) == 0 else {
            return FactReading(value: nil, detail: "statvfs(\(path)) failed: \(String(cString: strerror(errno)))")
        }
        let free = UInt64(stats.f_bavail) * UInt64(stats.f_frsize)
        return FactReading(
            value: free >= minimumBytes, detail: "\(Self.format(free)) available on \(path), at least \(Self.format(minimumBytes)) required"
        )
    }

    /// `1.5 GiB`, `512 MiB`.
    static func format(_ bytes: UInt64) -> String {
        let mib = Double(bytes) / 1_048_576
        return mib >= 1024 ? "\((mib / 1024 * 10).rounded() / 10) GiB" : "\(Int(mib.rounded())) MiB"
    }
}
