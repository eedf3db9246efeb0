import Foundation
import TaskHostTestSupport

@testable import TaskHostCore
@testable import TaskHostIsolation
@testable import TaskHostManifest
@testable import TaskHostStore

typealias Fixtures = TestSupport

extension TestSupport {
    /// A runner over a fresh store.
    static func runner() throws -> TaskRunner {
        TaskRunner(store: try store(), workerPath: workerPath)
    }
}

extension TaskRunner {
    /// Runs `task` (declared alone in its app) and returns the record.
    func run(_ task: TaskDeclaration, trigger: TriggerEvent = .application(), cancellation: InstanceCancellation? = nil)
        async throws -> InstanceRecord
    {
        try await run(
            app: Fixtures.app([task]), task: task, libraryPath: task.library, trigger: trigger, cancellation: cancellation)
    }
}
