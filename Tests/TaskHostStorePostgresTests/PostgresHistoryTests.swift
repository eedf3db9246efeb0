import Foundation
import TaskHostCore
import TaskHostStore
import TaskHostTestSupport
import Testing

@testable import TaskHostStorePostgres

/// The history on PostgreSQL: instances, their progress, outcomes and logs.
@Suite(
    .enabled("needs PostgreSQL (skipped when absent outside CI; the line above the results says why)") { await PostgresServer.testsRun() })
struct PostgresHistoryTests {
    func record(_ id: String, task: String = "T", startedAt: Date = Date()) -> InstanceRecord {
        InstanceRecord(
            id: id, app: "a", task: task, triggerKind: .pushNotification, triggerId: "trigger", attempt: 1, pid: 42, hostPid: 10,
            startedAt: startedAt, appVersion: "1.0.0.0", replayOf: "earlier")
    }

    @Test func recordsInstancesTheirProgressAndTheirLogs() async throws {
        try await withStore { store, _ in
            let started = Date(timeIntervalSince1970: 1000)
            let record = record("0123abcd-0000-0000-0000-000000000000", startedAt: started)
            try store.insertInstance(record)
            #expect(try store.instance(idPrefix: "0123")?.outcome == nil)
            try store.recordProgress(instanceId: record.id, progress: 40)
            #expect(try store.instance(idPrefix: "0123")?.progress == 40)
            try store.appendLog(instanceId: record.id, lines: [LogLine(stream: .task, text: "one")])
            try store.finishInstance(
                id: record.id, endedAt: started.addingTimeInterval(1.5), outcome: .crashed(signal: 11), progress: 7,
                sandbox: "enforced: seccomp",
                appendingLog: [LogLine(stream: .stderr, text: "two"), LogLine(stream: .host, text: "three ✓")])
            try store.recordProgress(instanceId: record.id, progress: 99)
            let loaded = try #require(try store.instance(idPrefix: "0123abcd"))
            #expect(loaded.pid == 42 && loaded.hostPid == 10 && loaded.attempt == 1)
            #expect(loaded.outcome == .crashed(signal: 11))
            #expect(loaded.progress == 7, "an ended instance keeps the progress recorded with its outcome")
            #expect(loaded.sandbox == "enforced: seccomp")
            #expect(loaded.duration == .milliseconds(1500))
            #expect(loaded.appVersion == "1.0.0.0" && loaded.replayOf == "earlier")
            #expect(try store.log(instanceId: record.id).map(\.text) == ["one", "two", "three ✓"])
            #expect(try store.log(instanceId: record.id).map(\.stream) == [.task, .stderr, .host])
            #expect(try store.instances(task: "T", limit: 5).map(\.id) == [record.id])
            #expect(try store.instances(task: "Other", limit: 5).isEmpty)
            #expect(try store.instance(idPrefix: "012") == nil, "prefixes shorter than 4 characters do not match")
            #expect(try store.apps() == ["a"])
        }
    }

    /// Hosts sharing the database share the history, and each instance names
    /// the host that ran it (`taskhost history`'s HOST NAME), once that host
    /// has registered its name; a host that has not yet is `nil`, not a guess.
    @Test func eachInstanceNamesTheHostThatRanIt() async throws {
        try await withStore { store, database in
            let other = try database.store(hostId: "host-b")
            defer { other.close() }
            let unnamed = try database.store(hostId: "host-c")
            defer { unnamed.close() }
            try store.heartbeat(name: "alpha", tasks: ["a/T"])
            try other.heartbeat(name: "beta", tasks: ["a/T"])
            let moment = Date(timeIntervalSince1970: 5000)
            try store.insertInstance(record("by-alpha", startedAt: moment))
            try other.insertInstance(record("by-beta", startedAt: moment.addingTimeInterval(1)))
            try unnamed.insertInstance(record("by-c", startedAt: moment.addingTimeInterval(2)))
            for reader in [store, other, unnamed] {
                let listed = try reader.instances(task: nil, limit: 10)
                #expect(listed.map(\.id) == ["by-c", "by-beta", "by-alpha"])
                #expect(listed.map(\.hostName) == [nil, "beta", "alpha"])
                #expect(try reader.instance(idPrefix: "by-beta")?.hostName == "beta")
            }
            try other.heartbeat(name: "beta-renamed", tasks: ["a/T"])
            #expect(try store.instance(idPrefix: "by-beta")?.hostName == "beta-renamed", "the host's name as it registered last")
        }
    }

    @Test func newestInstancesComeFirstAndTiesKeepTheirInsertionOrder() async throws {
        try await withStore { store, _ in
            let moment = Date(timeIntervalSince1970: 5000)
            for id in ["first", "second", "third"] { try store.insertInstance(record(id, startedAt: moment)) }
            try store.insertInstance(record("older", startedAt: moment.addingTimeInterval(-1)))
            #expect(try store.instances(task: nil, limit: 10).map(\.id) == ["third", "second", "first", "older"])
            #expect(try store.instances(task: nil, limit: 2).map(\.id) == ["third", "second"])
        }
    }

    @Test func ambiguousPrefixesAreAnErrorAndPatternsAreNotWildcards() async throws {
        try await withStore { store, _ in
            for id in ["abcd0001", "abcd0002", "ab_d%003"] { try store.insertInstance(record(id)) }
            #expect(throws: StoreError.self) { try store.instance(idPrefix: "abcd") }
            #expect(try store.instance(idPrefix: "abcd0002")?.id == "abcd0002")
            #expect(try store.instance(idPrefix: "ab_d")?.id == "ab_d%003", "_ and % match themselves only")
        }
    }

    @Test func aLongLogIsAppendedInOrderAcrossBatches() async throws {
        try await withStore { store, _ in
            try store.insertInstance(record("long"))
            let lines = (0..<2500).map { LogLine(stream: .stdout, text: "line \($0)") }
            try store.appendLog(instanceId: "long", lines: Array(lines[..<1200]))
            try store.appendLog(instanceId: "long", lines: Array(lines[1200...]))
            #expect(try store.log(instanceId: "long").map(\.text) == lines.map(\.text))
        }
    }
}
