public import BackgroundTaskKit
import Foundation

// Tasks that look at the process they run in, or leave processes behind, for
// the isolation tests.

/// Records the descriptors open in its process (setting "descriptors", e.g.
/// "0,1,2,3") and fails naming them when anything beyond the standard
/// streams and the IPC socket (3) is open.
public final class DescriptorProbeTask: BackgroundTask {
    struct Leak: Error, CustomStringConvertible {
        var descriptors: [Int32]
        var description: String {
            "descriptors open beyond 0-3: " + descriptors.map { "\($0) (\(Self.target($0)))" }.joined(separator: ", ")
        }
        static func target(_ fd: Int32) -> String {
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)")) ?? "?"
        }
    }

    public init() {}
    public func run(_ taskInstance: BackgroundTaskInstance) throws {
        guard let directory = opendir("/proc/self/fd") else { throw Leak(descriptors: []) }
        let own = dirfd(directory)
        var open: [Int32] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if let fd = Int32(name), fd != own { open.append(fd) }
        }
        closedir(directory)
        open.sort()
        try ApplicationData.current.localSettings.values.set("descriptors", .string(open.map(String.init).joined(separator: ",")))
        let extra = open.filter { $0 > 3 }
        if !extra.isEmpty { throw Leak(descriptors: extra) }
    }
}

/// Records its environment: TASKHOST_INSTANCE_ID in "instance-id", the
/// variables' names (sorted, comma-separated) in "environment".
public final class EnvironmentProbeTask: BackgroundTask {
    public init() {}
    public func run(_ taskInstance: BackgroundTaskInstance) throws {
        let environment = ProcessInfo.processInfo.environment
        let values = ApplicationData.current.localSettings.values
        try values.set("instance-id", .string(environment["TASKHOST_INSTANCE_ID"] ?? "unset"))
        try values.set("environment", .string(environment.keys.sorted().joined(separator: ",")))
    }
}

/// Leaves the argument "count" (default 100) orphans behind: each a
/// grandchild, in a session of its own (`setsid`), whose parent exits at
/// once, so that it is reparented to the host (a child subreaper) and exits
/// there. The task waits for its own children only.
public final class OrphanLeavingTask: BackgroundTask {
    public init() {}
    public func run(_ taskInstance: BackgroundTaskInstance) {
        let arguments = (taskInstance.triggerDetails as? ApplicationTriggerDetails)?.arguments ?? [:]
        let count = arguments["count"].flatMap { Int($0) } ?? 100
        var left = 0
        for _ in 0..<count {
            let child = fork()
            if child == 0 {
                _ = setsid()
                if fork() == 0 { _exit(0) }
                _exit(0)
            }
            guard child > 0 else { break }
            var status: Int32 = 0
            _ = waitpid(child, &status, 0)
            left += 1
        }
        ApplicationData.current.localSettings.values["orphans"] = .int(Int64(left))
    }
}
