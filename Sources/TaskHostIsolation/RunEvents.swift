import CTaskHostABI
import Foundation
import TaskHostIPC
import TaskHostShared
import TaskHostStore

/// The host side of one instance: settings through the store (validated
/// again, since the plugin is not trusted), logs buffered into the store,
/// progress recorded while it runs.
///
/// Progress reaches the store at most once per ``progressStoreInterval``
/// (a ``ProgressCoalescer``; the value held back is written when it is due,
/// and the last one with the outcome), and every value the worker sends (at
/// most one per 100 ms) reaches `onProgress`. Called on the supervisor's thread only.
final class RunEvents: InstanceEvents, @unchecked Sendable {
    /// The least time between two progress writes of one instance.
    static let progressStoreInterval: Duration = .milliseconds(500)

    private let store: any TaskStore
    private let app: String
    private let instanceId: String
    private let onLog: (@Sendable (LogLine) -> Void)?
    private let onProgress: (@Sendable (UInt32) -> Void)?
    private var pending: [LogLine] = []
    private var storedProgress = ProgressCoalescer(interval: RunEvents.progressStoreInterval)
    private var progressFailed = false
    private(set) var storeError: StoreError?

    init(
        store: any TaskStore, app: String, instanceId: String, onLog: (@Sendable (LogLine) -> Void)?,
        onProgress: (@Sendable (UInt32) -> Void)? = nil
    ) {
        self.store = store
        self.app = app
        self.instanceId = instanceId
        self.onLog = onLog
        self.onProgress = onProgress
    }

    func log(_ line: LogLine) {
        onLog?(line)
        pending.append(line)
        if pending.count >= 256 { flush() }
    }

    /// The lines not yet stored (the runner stores them with the outcome).
    func takePending() -> [LogLine] {
        defer { pending = [] }
        return pending
    }

    func flush() {
        guard !pending.isEmpty else { return }
        do {
            try store.appendLog(instanceId: instanceId, lines: pending)
        } catch {
            storeError = storeError ?? error
        }
        pending.removeAll(keepingCapacity: true)
    }

    func progress(_ value: UInt32) {
        onProgress?(value)
        if let value = storedProgress.offer(value, at: .now) { record(value) }
    }

    var progressDue: ContinuousClock.Instant? { storedProgress.deadline }

    func progressTick(at now: ContinuousClock.Instant) {
        if let value = storedProgress.due(at: now) { record(value) }
    }

    /// Writes the instance's progress so far. A failure costs the instance
    /// nothing: its last value is written with its outcome.
    private func record(_ value: UInt32) {
        do {
            try store.recordProgress(instanceId: instanceId, progress: value)
        } catch {
            guard !progressFailed else { return }
            progressFailed = true
            log(
                LogLine(
                    stream: .host,
                    text:
                        "host: cannot record the instance's progress while it runs (\(error)); its last value is recorded with its outcome")
            )
        }
    }

    func settings(_ request: SettingsRequest) -> (status: UInt32, data: [UInt8]) {
        do {
            switch request {
            case .get(let key):
                guard let stored = try store.setting(app: app, key: key) else { return (TH_NOT_FOUND.rawValue, []) }
                return (TH_OK.rawValue, stored.value.encoded())
            case .set(let key, let bytes):
                let value: SettingValue
                do {
                    try SettingValue.validate(name: key)
                    value = try SettingValue(encoded: bytes)
                    try value.validate(name: key)
                } catch {
                    log(LogLine(stream: .host, text: "host: refused setting \"\(key.prefix(80))\": \(error)"))
                    return (TH_INVALID_ARGUMENT.rawValue, [])
                }
                try store.setSetting(app: app, key: key, value: value)
                return (TH_OK.rawValue, [])
            case .delete(let key):
                return (try store.deleteSetting(app: app, key: key) ? TH_OK.rawValue : TH_NOT_FOUND.rawValue, [])
            case .keys:
                var names: [UInt8] = []
                for setting in try store.settings(app: app) { names += Array(setting.key.utf8) + [0] }
                return (TH_OK.rawValue, names)
            }
        } catch {
            log(LogLine(stream: .host, text: "host: settings: \(error)"))
            return (TH_HOST_UNAVAILABLE.rawValue, [])
        }
    }
}
