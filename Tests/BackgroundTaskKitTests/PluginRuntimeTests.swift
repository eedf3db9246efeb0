import Foundation
import Synchronization
import Testing

@testable public import BackgroundTaskKit

/// Counts its constructions and runs: `prepare` must do neither.
public final class PrepareProbeTask: BackgroundTask {
    static let events = Mutex<[String]>([])
    public init() { Self.events.withLock { $0.append("init") } }
    public func run(_ taskInstance: BackgroundTaskInstance) { Self.events.withLock { $0.append("run") } }
}

extension ProcessGlobalStateTests {
    /// The descriptor's `prepare`, which a zygote calls once before it forks.
    @Suite struct PluginRuntimePrepareTests {
        @Test func prepareRunsNoTaskCodeAndPutsTheProcessWideStateBack() {
            let storage = InMemorySettingsStorage(["kept": .int(1)])
            let previousStorage = ApplicationData.install(storage)
            defer { ApplicationData.install(previousStorage) }
            let lines = LockedLines()
            let previousSink = Debug.setSink { lines.append($0) }
            defer { Debug.setSink(previousSink) }

            PluginRuntime.prepare("BackgroundTaskKitTests.PrepareProbeTask")
            PluginRuntime.prepare("BackgroundTaskKitTests.NoSuchTask")

            #expect(PrepareProbeTask.events.withLock { $0 }.isEmpty, "no task was constructed or run")
            #expect(ApplicationData.install(storage) as? InMemorySettingsStorage === storage, "the installed storage is back")
            #expect(storage.snapshot == ["kept": .int(1)])
            Debug.writeLine("after")
            #expect(lines.values == ["after"], "the sink is back, and prepare wrote nothing to it")
        }
    }
}
