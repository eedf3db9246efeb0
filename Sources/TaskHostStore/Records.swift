package import Foundation
package import TaskHostCore
package import TaskHostShared

/// One task instance in the history.
package struct InstanceRecord: Sendable, Equatable {
    /// The instance id (a UUID).
    package var id: String
    /// The app (manifest identity) the task belongs to.
    package var app: String
    /// The task's name.
    package var task: String
    /// What fired it.
    package var triggerKind: TriggerKind
    /// The trigger's stable id.
    package var triggerId: String
    /// 1 for the first run of the trigger.
    package var attempt: Int
    /// The worker process that ran it; `nil` when it never started.
    package var pid: Int32?
    /// The host process that supervised it.
    package var hostPid: Int32
    /// When it started.
    package var startedAt: Date
    /// When it ended; `nil` while it runs.
    package var endedAt: Date?
    /// How it ended; `nil` while it runs.
    package var outcome: InstanceOutcome?
    /// The last progress the task reported.
    package var progress: UInt32
    /// Which sandbox layers were enforced (and which were not).
    package var sandbox: String
    /// The version of the app (or plugin) that ran, from its manifest.
    package var appVersion: String?
    /// The instance whose trigger this one ran again (`taskhost replay`), or `nil`.
    package var replayOf: String?
    /// The name of the host that ran it, when the store knows it: the PostgreSQL
    /// store, whose hosts share one history, gives the name the host registered
    /// (its heartbeat); SQLite's store, one host's, gives `nil`. Read, never written:
    /// a store records the host it is itself.
    package var hostName: String?

    /// How long it ran.
    package var duration: Duration? {
        endedAt.map { .milliseconds(Int64(($0.timeIntervalSince(startedAt) * 1000).rounded())) }
    }

    /// Creates a record.
    package init(
        id: String, app: String, task: String, triggerKind: TriggerKind, triggerId: String, attempt: Int,
        pid: Int32? = nil, hostPid: Int32, startedAt: Date, endedAt: Date? = nil, outcome: InstanceOutcome? = nil,
        progress: UInt32 = 0, sandbox: String = "", appVersion: String? = nil, replayOf: String? = nil, hostName: String? = nil
    ) {
        self.appVersion = appVersion
        self.replayOf = replayOf
        self.hostName = hostName
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
package enum LogStream: String, Sendable, CaseIterable {
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
package struct LogLine: Sendable, Equatable {
    /// Where it came from.
    package var stream: LogStream
    /// The text, without a trailing newline.
    package var text: String
    /// When the host received it.
    package var at: Date

    /// Creates a line.
    package init(stream: LogStream, text: String, at: Date = Date()) {
        self.stream = stream
        self.text = text
        self.at = at
    }
}

/// A stored setting.
package struct StoredSetting: Sendable, Equatable {
    /// The setting's name.
    package var key: String
    /// Its value.
    package var value: SettingValue
    /// When it was last written.
    package var updatedAt: Date

    /// Creates a setting as a store read it.
    package init(key: String, value: SettingValue, updatedAt: Date) {
        self.key = key
        self.value = value
        self.updatedAt = updatedAt
    }
}
