/// Where an app's settings live. Inside a task instance the host provides the
/// storage (the host owns the database; plugins never open it). Outside one,
/// for example in a plugin's unit tests, an in-memory storage is used, which
/// tests can replace with ``ApplicationData/withStorage(_:operation:)``.
public protocol SettingsStorage: Sendable {
    /// The value stored under `key`, or `nil`.
    func value(forKey key: String) throws(SettingsError) -> SettingValue?
    /// Stores `value` under `key`, replacing what was there.
    func setValue(_ value: SettingValue, forKey key: String) throws(SettingsError)
    /// Removes `key`; returns whether it existed.
    func removeValue(forKey key: String) throws(SettingsError) -> Bool
    /// Every stored name, sorted.
    func keys() throws(SettingsError) -> [String]
}

/// A ``SettingsStorage`` in memory: the default outside the host, and handy in tests.
public final class InMemorySettingsStorage: SettingsStorage {
    private let values = PosixMutex<[String: SettingValue]>([:])

    /// Creates an empty storage, or one holding `initial`.
    public init(_ initial: [String: SettingValue] = [:]) {
        values.withLock { $0 = initial }
    }

    public func value(forKey key: String) throws(SettingsError) -> SettingValue? {
        values.withLock { $0[key] }
    }

    public func setValue(_ value: SettingValue, forKey key: String) throws(SettingsError) {
        try SettingValue.validate(name: key)
        try value.validate(name: key)
        values.withLock { $0[key] = value }
    }

    public func removeValue(forKey key: String) throws(SettingsError) -> Bool {
        values.withLock { $0.removeValue(forKey: key) != nil }
    }

    public func keys() throws(SettingsError) -> [String] {
        values.withLock { $0.keys.sorted() }
    }

    /// A copy of everything stored.
    public var snapshot: [String: SettingValue] { values.withLock { $0 } }
}

/// The app's data, as Windows' `ApplicationData`. Use ``current``.
public final class ApplicationData: Sendable {
    private static let storage = PosixMutex<any SettingsStorage>(InMemorySettingsStorage())

    /// The app's data for the running instance.
    public static let current = ApplicationData()

    /// The app's local settings (Windows' `ApplicationData.Current.LocalSettings`):
    /// small typed values that the app's other parts, and the `taskhost settings`
    /// command, read later.
    public let localSettings = ApplicationDataContainer()

    private init() {}

    /// A storage bound to the current task (and the tasks it creates), which
    /// takes precedence over the process-wide one; see ``withStorage(_:operation:)``.
    @TaskLocal static var taskStorage: (any SettingsStorage)?

    static var currentStorage: any SettingsStorage { taskStorage ?? storage.withLock { $0 } }

    /// Installs `storage` for the whole process (the plugin runtime does this
    /// before it calls `run`). Returns the storage it replaced.
    @discardableResult
    public static func install(_ storage: any SettingsStorage) -> any SettingsStorage {
        self.storage.withLock { current in
            let previous = current
            current = storage
            return previous
        }
    }

    /// Runs `operation` with `storage` as the settings of the current task and
    /// of the Swift tasks it creates (a task-local binding: concurrent tests do
    /// not see each other's settings; threads started by other means see the
    /// process-wide storage).
    public static func withStorage<R>(_ storage: any SettingsStorage, operation: () throws -> R) rethrows -> R {
        try $taskStorage.withValue(storage, operation: operation)
    }

    /// The `async` form of ``withStorage(_:operation:)``.
    public static func withStorage<R>(
        _ storage: any SettingsStorage, operation: () async throws -> R, isolation: isolated (any Actor)? = #isolation
    ) async rethrows -> R {
        try await $taskStorage.withValue(storage, operation: operation)
    }
}

/// A settings container (Windows' `ApplicationDataContainer`).
public final class ApplicationDataContainer: Sendable {
    /// The container's values, read and written by name:
    /// `settings.values["key"] = .string("text")`.
    public let values = ApplicationDataContainerSettings()
}

/// The values of a settings container (Windows' `ApplicationDataContainerSettings`).
///
/// The subscript is the short form. A write that breaks a limit (name over
/// 255 characters, value over 8 KB, composite over 64 KB) stops the instance
/// with the reason in its log, like an unhandled exception on Windows; use
/// ``set(_:_:)`` to handle such errors yourself.
public final class ApplicationDataContainerSettings: Sendable {
    /// The value stored under `key`, or `nil`. Assigning `nil` removes it.
    public subscript(key: String) -> SettingValue? {
        get { try? ApplicationData.currentStorage.value(forKey: key) }
        set {
            do {
                if let newValue {
                    try set(key, newValue)
                } else {
                    _ = try remove(key)
                }
            } catch {
                Debug.writeLine("LocalSettings: \(error)")
                fatalError("LocalSettings: \(error)")
            }
        }
    }

    /// Stores `value` under `key`, checking Windows' limits first.
    public func set(_ key: String, _ value: SettingValue) throws(SettingsError) {
        try SettingValue.validate(name: key)
        try value.validate(name: key)
        try ApplicationData.currentStorage.setValue(value, forKey: key)
    }

    /// The value stored under `key`, or `nil`; throws when it cannot be read.
    public func value(_ key: String) throws(SettingsError) -> SettingValue? {
        try ApplicationData.currentStorage.value(forKey: key)
    }

    /// Removes `key`; returns whether it existed.
    @discardableResult
    public func remove(_ key: String) throws(SettingsError) -> Bool {
        try ApplicationData.currentStorage.removeValue(forKey: key)
    }

    /// Every stored name, sorted.
    public var keys: [String] { (try? ApplicationData.currentStorage.keys()) ?? [] }

    /// Whether a value is stored under `key`.
    public func hasKey(_ key: String) -> Bool { self[key] != nil }
}
