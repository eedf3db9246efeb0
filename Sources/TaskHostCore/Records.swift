public import TaskHostShared
public import Foundation

/// The kind of trigger that fired an instance.
public enum TriggerKind: String, Sendable, CaseIterable {
    /// `taskhost run` or `taskhost trigger`.
    case application
    /// A raw push notification.
    case pushNotification = "push"
    /// A timer.
    case time
    /// A Web Push message (RFC 8030) on a subscription.
    case webPush = "webpush"
}

/// One task instance in the history.
public struct InstanceRecord: Sendable, Equatable {
    /// The instance id (a UUID).
    public var id: String
    /// The app (manifest identity) the task belongs to.
    public var app: String
    /// The task's name.
    public var task: String
    /// What fired it.
    public var triggerKind: TriggerKind
    /// The trigger's stable id.
    public var triggerId: String
    /// 1 for the first run of the trigger.
    public var attempt: Int
    /// The worker process that ran it; `nil` when it never started.
    public var pid: Int32?
    /// The host process that supervised it.
    public var hostPid: Int32
    /// When it started.
    public var startedAt: Date
    /// When it ended; `nil` while it runs.
    public var endedAt: Date?
    /// How it ended; `nil` while it runs.
    public var outcome: InstanceOutcome?
    /// The last progress the task reported.
    public var progress: UInt32
    /// Which sandbox layers were enforced (and which were not).
    public var sandbox: String
    /// The version of the app (or plugin) that ran, from its manifest.
    public var appVersion: String?
    /// The instance whose trigger this one ran again (`taskhost replay`), or `nil`.
    public var replayOf: String?

    /// How long it ran.
    public var duration: Duration? {
        endedAt.map { .milliseconds(Int64(($0.timeIntervalSince(startedAt) * 1000).rounded())) }
    }

    /// Creates a record.
    public init(
        id: String, app: String, task: String, triggerKind: TriggerKind, triggerId: String, attempt: Int,
        pid: Int32? = nil, hostPid: Int32, startedAt: Date, endedAt: Date? = nil, outcome: InstanceOutcome? = nil,
        progress: UInt32 = 0, sandbox: String = "", appVersion: String? = nil, replayOf: String? = nil
    ) {
        self.appVersion = appVersion
        self.replayOf = replayOf
        self.id = id
        self.app = app
        self.task = task
        self.triggerKind = triggerKind
        self.triggerId = triggerId
        self.attempt = attempt
        self.pid = pid
        self.hostPid = hostPid
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.outcome = outcome
        self.progress = progress
        self.sandbox = sandbox
    }
}

/// Where a log line came from.
public enum LogStream: String, Sendable, CaseIterable {
    /// `Debug.writeLine`.
    case task
    /// The worker's standard output (`print`).
    case stdout
    /// The worker's standard error (crash reports, `fatalError` messages).
    case stderr
    /// The host itself (refused settings, truncation markers, kill notices).
    case host
}

/// One line of an instance's log.
public struct LogLine: Sendable, Equatable {
    /// Where it came from.
    public var stream: LogStream
    /// The text, without a trailing newline.
    public var text: String
    /// When the host received it.
    public var at: Date

    /// Creates a line.
    public init(stream: LogStream, text: String, at: Date = Date()) {
        self.stream = stream
        self.text = text
        self.at = at
    }
}

/// A stored setting.
public struct StoredSetting: Sendable, Equatable {
    /// The setting's name.
    public var key: String
    /// Its value.
    public var value: SettingValue
    /// When it was last written.
    public var updatedAt: Date
}
