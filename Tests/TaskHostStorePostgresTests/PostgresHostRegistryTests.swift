import Foundation
import TaskHostCore
import TaskHostStore
import TaskHostTestSupport
import Testing

@testable import TaskHostStorePostgres

/// The host registry: each host's name, tasks and heartbeat, seen by all.
@Suite(
    .enabled("needs PostgreSQL (skipped when absent outside CI; the line above the results says why)") { await PostgresServer.testsRun() })
struct PostgresHostRegistryTests {
    @Test func hostsRegisterTheirTasksAndHeartbeats() async throws {
        try await withStore { store, database in
            let other = try database.store(hostId: "host-b")
            defer { other.close() }
            let first = Date(timeIntervalSince1970: 1_800_000_000)
            try store.heartbeat(name: "alpha", tasks: ["a/T", "a/S"], now: first)
            try other.heartbeat(name: "beta", tasks: [], now: first)
            try store.heartbeat(name: "alpha", tasks: ["a/T"], now: first.addingTimeInterval(5))
            let hosts = try other.hosts()
            #expect(hosts.map(\.name) == ["alpha", "beta"])
            #expect(hosts[0] == HostRecord(id: store.hostId, name: "alpha", heartbeatAt: first.addingTimeInterval(5), tasks: ["a/T"]))
            #expect(hosts[1].id == "host-b" && hosts[1].tasks.isEmpty)
        }
    }
}
