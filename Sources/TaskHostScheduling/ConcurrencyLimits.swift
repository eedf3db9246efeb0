import Foundation

/// How many instances run at once.
package struct ConcurrencyLimits: Sendable, Equatable {
    /// Instances across all tasks (default: the number of cores).
    package var global: Int
    /// Instances of any one task (default: no limit beyond `global`).
    package var perTask: Int

    /// Creates limits.
    package init(global: Int = ProcessInfo.processInfo.activeProcessorCount, perTask: Int? = nil) {
        self.global = max(1, global)
        self.perTask = max(1, perTask ?? self.global)
    }
}
