import Foundation

/// How an isolated instance gets its process.
package enum IsolationMode: String, Sendable, CaseIterable, CustomStringConvertible {
    /// A fresh `taskhost-worker` per instance (`posix_spawn`), which loads the
    /// plugin itself.
    case spawn
    /// A child forked per instance from a pre-started, single-threaded worker
    /// ("zygote") that has already loaded the plugin; falls back to `spawn`
    /// when no zygote can serve.
    case prefork

    /// `TASKHOST_ISOLATION` when it names a mode, else `prefork`.
    package static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> IsolationMode {
        environment["TASKHOST_ISOLATION"].flatMap(IsolationMode.init(rawValue:)) ?? .prefork
    }

    /// The mode's spelling in `TASKHOST_ISOLATION` and `--isolation`.
    package var description: String { rawValue }
}
