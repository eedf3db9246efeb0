import Foundation
import TaskHostCore
import TaskHostShared
import TaskHostStore
import TaskHostTestSupport
import Testing

/// What plugins leave behind is reaped by `taskhost serve`, however it left.
@Suite(.serialized) struct OrphanReapingTests {
    /// The zombie children of process `parent` (state Z in `/proc/PID/stat`).
    static func zombies(of parent: pid_t) -> [pid_t] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry -> pid_t? in
            guard let pid = pid_t(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && fields[0] == "Z" && pid_t(fields[1]) == parent ? pid : nil
        }
    }

    /// A plugin whose instances each leave 100 processes that left its
    /// process group (`setsid`) and exited, reparented to the host: after 20
    /// instances, the host has not kept their 2000 zombies. Meanwhile, the
    /// reaper has not taken the exit status of a worker the host waits for:
    /// instances that segfault beside them end as crashed by SIGSEGV.
    @Test func orphansThatLeftTheInstancesProcessGroupAreReaped() async throws {
        let directory = TestSupport.temporaryDirectory()
        let manifest = try ServeProcess.manifest(
            in: directory, [("Orphans", "FaultyTasks.OrphanLeavingTask", ""), ("Segfault", "FaultyTasks.SegfaultTask", "")])
        let (store, channel, token) = try ServeProcessTests.prepare(directory, task: "Orphans")
        let (_, crashing, crashingToken) = try ServeProcessTests.prepare(directory, task: "Segfault")
        let server = try ServeProcess(manifest: manifest, stateDirectory: directory, arguments: ["--max-attempts", "1"])
        defer { _ = server.terminate() }
        let runs = 20
        for run in 0..<runs {
            #expect(await ServeProcessTests.push(port: server.port, channel: channel.id, token: token, content: "run \(run)") == 200)
            #expect(
                await ServeProcessTests.push(port: server.port, channel: crashing.id, token: crashingToken, content: "run \(run)") == 200)
        }
        let finished = try await TestSupport.eventually(timeout: .seconds(120)) {
            try store.instances(task: "Orphans", limit: runs + 1).filter { $0.outcome != nil }.count == runs
        }
        #expect(finished, "\(server.errors)")
        let instances = try store.instances(task: "Orphans", limit: runs + 1)
        #expect(instances.allSatisfy { $0.outcome == .completed }, "\(instances.map(\.outcome))")
        #expect(try store.setting(app: "com.example.tests", key: "orphans")?.value == .int(100), "each instance left 100 orphans")
        let crashed = try await TestSupport.eventually(timeout: .seconds(120)) {
            try store.instances(task: "Segfault", limit: runs + 1).filter { $0.outcome != nil }.count == runs
        }
        #expect(crashed)
        let segfaults = try store.instances(task: "Segfault", limit: runs + 1)
        #expect(segfaults.allSatisfy { $0.outcome == .crashed(signal: SIGSEGV) }, "\(segfaults.map(\.outcome))")

        let host = server.process.processIdentifier
        let reaped = await TestSupport.eventually(timeout: .seconds(20)) { Self.zombies(of: host).count <= 5 }
        #expect(reaped, "the host keeps \(Self.zombies(of: host).count) zombie children")
        #expect(server.process.isRunning)
    }
}
