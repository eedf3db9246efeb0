import BackgroundTaskKit
import Testing

/// Suites that install process-wide state (the settings storage, the Debug
/// sink) run one test at a time, all of them together.
@Suite(.serialized) struct ProcessGlobalStateTests {}

extension ProcessGlobalStateTests {
    /// `ApplicationData.current.localSettings` against an installed storage, the
    /// way plugin authors test their tasks in-process.
    @Suite struct ApplicationDataTests {
        @Test func valuesAreReadAndWrittenThroughTheInstalledStorage() throws {
            let storage = InMemorySettingsStorage(["seed": "1"])
            let previous = ApplicationData.install(storage)
            defer { ApplicationData.install(previous) }
            do {
                let values = ApplicationData.current.localSettings.values
                #expect(values["seed"] == "1")
                values["name"] = "taskhost"
                values["count"] = 3
                #expect(values.keys == ["count", "name", "seed"])
                #expect(values.hasKey("name"))
                values["seed"] = nil
                #expect(!values.hasKey("seed"))
                #expect(try values.remove("count"))
                #expect(try !values.remove("count"))
                #expect(try values.value("name") == "taskhost")
            }
            #expect(storage.snapshot == ["name": "taskhost"])
        }

        @Test func setChecksTheLimitsBeforeStoring() {
            let storage = InMemorySettingsStorage()
            ApplicationData.withStorage(storage) {
                let values = ApplicationData.current.localSettings.values
                #expect(throws: SettingsError.valueTooLarge(name: "k", size: 9000)) {
                    try values.set("k", .bytes(Array(repeating: 0, count: 9000)))
                }
            }
            #expect(storage.snapshot.isEmpty)
        }

        @Test func debugLinesGoToTheInstalledSink() {
            let lines = LockedLines()
            let previous = Debug.setSink { lines.append($0) }
            defer { Debug.setSink(previous) }
            Debug.writeLine("one")
            Debug.writeLine("two")
            #expect(lines.values == ["one", "two"])
        }
    }
}

final class LockedLines: @unchecked Sendable {
    private var storage: [String] = []
    private let lock = NSLockLike()
    func append(_ line: String) { lock.withLock { storage.append(line) } }
    var values: [String] { lock.withLock { storage } }
}

/// A tiny lock so the test target needs nothing but the SDK.
final class NSLockLike: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    init() { pthread_mutex_init(&mutex, nil) }
    func withLock<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return body()
    }
}

#if canImport(Glibc)
import Glibc
#endif
