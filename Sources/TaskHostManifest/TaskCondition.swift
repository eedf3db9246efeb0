/// A condition a task may require (the manifest's `"Conditions"`): a trigger
/// that fires while one of its task's conditions does not hold waits, in the
/// queue's `waiting` state, until they all hold (Windows' `SystemConditionType`,
/// WorkManager's `Constraints`). The raw value is the manifest's spelling.
package enum TaskCondition: String, Sendable, CaseIterable, Hashable {
    /// The host has a default route (IPv4 or IPv6), and the reachability probe, when one is configured, answers.
    case internetAvailable = "InternetAvailable"
    /// The opposite of ``internetAvailable``.
    case internetNotAvailable = "InternetNotAvailable"
    /// A logind session is active and not idle (its `IDLE_HINT` is off).
    case userPresent = "UserPresent"
    /// The opposite of ``userPresent``.
    case userNotPresent = "UserNotPresent"
    /// A logind session is connected (its `STATE` is `active` or `online`).
    case sessionConnected = "SessionConnected"
    /// The opposite of ``sessionConnected``.
    case sessionDisconnected = "SessionDisconnected"
    /// The host is not busy, not under memory, CPU or I/O pressure, and not on battery.
    case backgroundWorkCostNotHigh = "BackgroundWorkCostNotHigh"
    /// The state directory's filesystem has at least the configured free space.
    case freeStorage = "FreeStorage"

    /// The condition that can never hold at the same time as this one, if any
    /// (a task requiring both would never run).
    package var contradiction: TaskCondition? {
        switch self {
        case .internetAvailable: .internetNotAvailable
        case .internetNotAvailable: .internetAvailable
        case .userPresent: .userNotPresent
        case .userNotPresent: .userPresent
        case .sessionConnected: .sessionDisconnected
        case .sessionDisconnected: .sessionConnected
        case .backgroundWorkCostNotHigh, .freeStorage: nil
        }
    }

    /// The fact about the host the condition reads.
    package var fact: ConditionFact {
        switch self {
        case .internetAvailable, .internetNotAvailable: .internet
        case .userPresent, .userNotPresent: .userPresent
        case .sessionConnected, .sessionDisconnected: .sessionConnected
        case .backgroundWorkCostNotHigh: .workCostNotHigh
        case .freeStorage: .freeStorage
        }
    }

    /// Whether the condition holds when its ``fact`` is true (`false`: it holds when the fact is false).
    package var wantsFact: Bool {
        switch self {
        case .internetNotAvailable, .userNotPresent, .sessionDisconnected: false
        default: true
        }
    }
}

/// A fact about the host that conditions read: a condition and its opposite
/// (``TaskCondition/internetAvailable`` and ``TaskCondition/internetNotAvailable``)
/// read the same fact, one holding when it is true, the other when it is false.
package enum ConditionFact: String, Sendable, CaseIterable, Hashable {
    /// A default route, and the probe when configured.
    case internet
    /// An active, non-idle session.
    case userPresent
    /// A connected session.
    case sessionConnected
    /// Load, pressure and power allow background work.
    case workCostNotHigh
    /// Enough free space on the state directory's filesystem.
    case freeStorage
}
