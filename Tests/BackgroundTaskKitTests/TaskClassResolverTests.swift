import CTaskHostABI
import Foundation
import Testing

@testable public import BackgroundTaskKit

public final class ResolverFinalTask: BackgroundTask {
    public init() {}
    public func run(_ taskInstance: BackgroundTaskInstance) {}
}

public class ResolverOpenTask: BackgroundTask {
    public required init() {}
    public func run(_ taskInstance: BackgroundTaskInstance) {}
}

public final class ResolverAsyncTask: AsyncBackgroundTask {
    public init() {}
    public func run(_ taskInstance: BackgroundTaskInstance) async throws {}
}

public final class ResolverPlainClass {}

/// Finding task classes by name, inside the plugin's image.
@Suite struct TaskClassResolverTests {
    @Test func finalConformingClassesResolve() {
        guard case .success(.blocking(let type)) = TaskClassResolver.resolve("BackgroundTaskKitTests.ResolverFinalTask") else {
            Issue.record("ResolverFinalTask did not resolve")
            return
        }
        #expect(ObjectIdentifier(type) == ObjectIdentifier(ResolverFinalTask.self))
        guard case .success(.async) = TaskClassResolver.resolve("BackgroundTaskKitTests.ResolverAsyncTask") else {
            Issue.record("ResolverAsyncTask did not resolve as async")
            return
        }
    }

    @Test(arguments: [
        ("BackgroundTaskKitTests.ResolverOpenTask", checkNotFinalCode),
        ("BackgroundTaskKitTests.ResolverPlainClass", checkNotConformingCode),
        ("BackgroundTaskKitTests.NoSuchClass", checkNotFoundCode),
        ("NoSuchModule.ResolverFinalTask", checkNotFoundCode),
    ])
    func unusableClassesAreRefusedWithTheirReason(_ name: String, _ code: UInt32) {
        guard case .failure(let problem) = TaskClassResolver.resolve(name) else {
            Issue.record("\(name) resolved")
            return
        }
        #expect(problem.code.rawValue == code)
        #expect(problem.description.hasPrefix("TaskEntryPoint \"\(name)\" "))
    }

    @Test func finalityIsReadFromTheClassMetadata() {
        #expect(ClassMetadata(ResolverFinalTask.self)?.declaresOverridableMembers == false)
        #expect(ClassMetadata(ResolverOpenTask.self)?.declaresOverridableMembers == true)
    }

    @Test func theBuildSignatureNamesWhatMatters() {
        #expect(BuildInfo.signature == "sdk=\(BuildInfo.sdkVersion);abi=1;swift=\(BuildInfo.swiftVersion);target=\(BuildInfo.target)")
    }
}

let checkNotFoundCode: UInt32 = 1
let checkNotFinalCode: UInt32 = 3
let checkNotConformingCode: UInt32 = 4

/// The rule that ends an instance: `run` returned and every deferral completed.
@Suite struct InstanceLifetimeTests {
    @Test func anInstanceEndsWhenRunReturnedAndEveryDeferralCompleted() {
        let lifetime = InstanceLifetime(progressReporter: nil)
        lifetime.openDeferral()
        lifetime.openDeferral()
        lifetime.runReturned()
        #expect(!lifetime.isFinished)
        lifetime.closeDeferral()
        #expect(!lifetime.isFinished)
        lifetime.closeDeferral()
        #expect(lifetime.isFinished)
        lifetime.waitUntilFinished()  // returns at once
    }

    @Test func aDeferralCompletedTwiceCountsOnce() {
        let instance = BackgroundTaskInstance(task: BackgroundTaskRegistration(name: "T", taskId: UUID()), triggerDetails: nil)
        let first = instance.getDeferral()
        let second = instance.getDeferral()
        instance.lifetime.runReturned()
        first.complete()
        first.complete()
        #expect(!instance.lifetime.isFinished, "the second deferral is still open")
        second.complete()
        #expect(instance.lifetime.isFinished)
    }
}
