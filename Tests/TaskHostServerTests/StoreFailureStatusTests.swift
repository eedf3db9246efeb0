import Crypto
import Foundation
import HTTPTypes
import TaskHostCore
import TaskHostManifest
import TaskHostStore
import TaskHostTestSupport
import Testing

@testable import TaskHostServer

/// What both push endpoints answer when the store cannot commit a push, by
/// the failure's ``StoreError/Code``: 503 with `Retry-After` when the store is
/// busy, unavailable or full (the sender retries), 500 for what retrying
/// cannot help; never 200 or 201, and nothing is queued.
@Suite struct StoreFailureStatusTests {
    let key = P256.Signing.PrivateKey()

    /// Each code, as SQLite reports it (its primary result code) or, for
    /// `other`, from elsewhere; and the status it must get.
    static let cases: [(code: StoreError.Code, failure: StoreError, status: Int)] = [
        (.busy, StoreError("database is locked", resultCode: 5), 503),
        (.busy, StoreError("database table is locked", resultCode: 6), 503),
        (.unavailable, StoreError("disk I/O error", resultCode: 10), 503),
        (.unavailable, StoreError("attempt to write a readonly database", resultCode: 8), 503),
        (.unavailable, StoreError("the host is shutting down; the push was not stored", code: .unavailable), 503),
        (.full, StoreError("database or disk is full", resultCode: 13), 503),
        (.constraint, StoreError("UNIQUE constraint failed", resultCode: 19), 500),
        (.corrupt, StoreError("database disk image is malformed", resultCode: 11), 500),
        (.notFound, StoreError("unknown opcode", resultCode: 12), 500),
        (.other, StoreError("something else"), 500),
    ]

    @Test func theCodeOfEachFailureIsTheOneTheCasesName() {
        for (code, failure, _) in Self.cases { #expect(failure.code == code, "\(failure)") }
        #expect(Set(Self.cases.map(\.code)) == Set(StoreError.Code.allCases), "every code is tested")
    }

    @Test func aWNSPushTheStoreCannotTakeGetsItsCodesStatus() async throws {
        for (code, failure, status) in Self.cases {
            let server = try RouterServer(
                [TestSupport.task("Recorder", "FaultyTasks.RecordingTask", triggers: [.pushNotification])], ingestFailure: failure)
            let channel = try server.channel(task: "Recorder")
            let answer = try await server.post(channel.id, token: try server.token())
            #expect(answer.status == status, "\(code): \(answer)")
            if status == 503 {
                #expect(answer.header("Retry-After") == String(PushRejection.storeRetryAfter), "\(code): \(answer)")
                #expect(answer.header("X-WNS-Error-Description")?.contains("retry in 2 s") == true, "\(answer)")
            } else {
                #expect(answer.header("Retry-After") == nil, "\(code): \(answer)")
            }
            // The store's own message (paths, SQL) is for the host's log, not the sender.
            #expect(answer.header("X-WNS-Error-Description")?.contains(failure.message) == false, "\(answer)")
            #expect(answer.header("X-WNS-Msg-ID") == nil, "nothing acknowledged")
            #expect(try server.store.queueCounts().isEmpty, "\(code): nothing queued")
        }
    }

    @Test func aWebPushTheStoreCannotTakeGetsItsCodesStatus() async throws {
        for (code, failure, status) in Self.cases {
            let server = try RouterServer([WebPushEndpointTests.sample], ingestFailure: failure)
            let subscription = try server.subscription(task: "SampleBackgroundTask")
            let answer = try await server.webPush(subscription, "hello", key: key)
            #expect(answer.status == status, "\(code): \(answer)")
            #expect(answer.header("Retry-After") == (status == 503 ? String(PushRejection.storeRetryAfter) : nil), "\(code): \(answer)")
            #expect(answer.header("Location") == nil, "nothing acknowledged")
            #expect(try server.store.queueCounts().isEmpty, "\(code): nothing queued")
        }
    }

    @Test func theMappingItselfCoversEveryCode() {
        for code in StoreError.Code.allCases {
            let rejection = PushRejection.storeFailure(StoreError("x", code: code), "the push could not be stored")
            let transient = [StoreError.Code.busy, .unavailable, .full].contains(code)
            #expect(rejection.status.code == (transient ? 503 : 500), "\(code)")
            #expect(rejection.retryAfter == (transient ? PushRejection.storeRetryAfter : nil), "\(code)")
            #expect(rejection.description.hasPrefix("the push could not be stored: "), "\(rejection)")
        }
    }
}
