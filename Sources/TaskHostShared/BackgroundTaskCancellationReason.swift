/// Why the host asked an instance to stop. Values and numbering follow
/// Windows' `BackgroundTaskCancellationReason`, so they can be compared with
/// logs from either platform.
public enum BackgroundTaskCancellationReason: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    /// The task was canceled explicitly (for example by `taskhost cancel`).
    case abort = 0
    /// The host is shutting down.
    case terminating = 1
    /// The user logged off.
    case loggingOff = 2
    /// The plugin is being replaced by a new version.
    case servicingUpdate = 3
    /// The task was idle.
    case idleTask = 4
    /// The plugin was removed.
    case uninstall = 5
    /// A condition the task depended on no longer holds.
    case conditionLoss = 6
    /// A system policy stopped the task.
    case systemPolicy = 7
    /// Quiet hours started.
    case quietHoursEntered = 8
    /// The instance ran past its time limit.
    case executionTimeExceeded = 9
    /// The system needed the task's resources back.
    case resourceRevocation = 10
    /// Energy saver stopped the task.
    case energySaver = 11

    /// The Windows spelling, e.g. `ExecutionTimeExceeded`.
    public var description: String {
        switch self {
        case .abort: "Abort"
        case .terminating: "Terminating"
        case .loggingOff: "LoggingOff"
        case .servicingUpdate: "ServicingUpdate"
        case .idleTask: "IdleTask"
        case .uninstall: "Uninstall"
        case .conditionLoss: "ConditionLoss"
        case .systemPolicy: "SystemPolicy"
        case .quietHoursEntered: "QuietHoursEntered"
        case .executionTimeExceeded: "ExecutionTimeExceeded"
        case .resourceRevocation: "ResourceRevocation"
        case .energySaver: "EnergySaver"
        }
    }

    /// Parses the Windows spelling (case-insensitive) or the number.
    package init?(name: String) {
        if let number = UInt32(name), let reason = Self(rawValue: number) {
            self = reason
            return
        }
        guard let reason = Self.allCases.first(where: { $0.description.lowercased() == name.lowercased() }) else {
            return nil
        }
        self = reason
    }
}
