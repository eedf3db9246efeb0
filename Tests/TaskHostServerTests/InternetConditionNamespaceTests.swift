import Foundation
import TaskHostTestSupport
import Testing

/// `InternetAvailable` observed for real: `taskhost serve` runs in a network
/// namespace the test creates (`ip netns add`), which has only `lo` and no
/// route. A trigger of a task that needs the condition waits; the test adds a
/// default route in the namespace and the trigger runs (the kernel's netlink
/// event makes the host read the routes again); the route removed, the next
/// trigger waits again. Needs root and `ip` (iproute2): under CI a missing
/// one is a failure, elsewhere the test is skipped with the reason.
@Suite(
    .serialized,
    .enabled(
        if: NetworkNamespaces.unavailable == nil || ExternalTools.underCI, "\(NetworkNamespaces.unavailable ?? "")"))
struct InternetConditionNamespaceTests {

    /// Runs `ip arguments`; fails the test with its output when it fails.
    @discardableResult
    func ip(_ arguments: [String]) throws -> String {
        let process = try ChildProcess.start(try #require(NetworkNamespaces.ip), arguments: arguments, output: .pipe, error: .pipe)
        let out = process.readBlocking(.output)
        let err = process.readBlocking(.error)
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "ip \(arguments.joined(separator: " ")): \(err)")
        return out
    }

    /// The state counts `taskhost queue` prints on its first line, by state.
    func queueCounts(_ state: String) throws -> [String: Int] {
        let (status, out, err) = try ServeProcess.taskhost(["queue"], stateDirectory: state)
        try #require(status == 0, "taskhost queue: \(err)")
        let words = out.split(separator: "\n").first?.split(separator: " ", omittingEmptySubsequences: true) ?? []
        var counts: [String: Int] = [:]
        for index in stride(from: 0, to: words.count - 1, by: 2) { counts[String(words[index])] = Int(words[index + 1]) }
        return counts
    }

    @Test func aTriggerWaitsForADefaultRouteInTheHostsNamespaceAndRunsOnceThereIsOne() async throws {
        if let unavailable = NetworkNamespaces.unavailable {
            Issue.record("under CI this test must run: \(unavailable)")
            return
        }
        let namespace = "taskhost-test-\(UInt32.random(in: 0...UInt32.max))"
        try ip(["netns", "add", namespace])
        defer { _ = try? ip(["netns", "delete", namespace]) }
        try ip(["-n", namespace, "link", "set", "lo", "up"])
        #expect(!(try ip(["-n", namespace, "route", "show", "default"])).contains("default"), "a new namespace has no default route")

        let state = TestSupport.temporaryDirectory()
        let manifest = state + "/manifest.json"
        try """
        {"Identity": {"Name": "com.example.tests"}, "BackgroundTasks": [
          {"Name": "Online", "TaskEntryPoint": "FaultyTasks.AsyncEchoTask", "Library": "\(TestSupport.faultyTasks)",
           "Triggers": [{"Type": "Application"}], "Conditions": ["InternetAvailable"]}]}
        """.write(toFile: manifest, atomically: true, encoding: .utf8)
        let serve = try ServeProcess(
            manifest: manifest, stateDirectory: state, launcher: [try #require(NetworkNamespaces.ip), "netns", "exec", namespace])
        defer { if serve.process.isRunning { _ = serve.terminate() } }

        let trigger = ["trigger", "Online", "--manifest", manifest]
        #expect(try ServeProcess.taskhost(trigger, stateDirectory: state).status == 0)
        #expect(try await TestSupport.eventually(timeout: .seconds(60)) { try queueCounts(state)["waiting"] == 1 }, "\(serve.errors)")
        let (_, listing, _) = try ServeProcess.taskhost(["queue", "--wide"], stateDirectory: state)
        #expect(listing.contains("waiting for its task's conditions: InternetAvailable (no default route"), "\(listing)")
        let history = try ServeProcess.taskhost(["history"], stateDirectory: state).out
        #expect(history.contains("1 trigger(s) waiting for their task's conditions, not run yet"), "\(history)")

        // A default route appears in the host's namespace: the waiting trigger runs.
        try ip(["-n", namespace, "route", "add", "default", "dev", "lo"])
        #expect(
            try await TestSupport.eventually(timeout: .seconds(60)) { try queueCounts(state)["done"] == 1 },
            "\((try? queueCounts(state)).map { "\($0)" } ?? "") \(serve.errors)")
        #expect(try queueCounts(state)["waiting"] == 0)

        // And back: without the route, the next trigger waits again (one that
        // ran before the host saw the route go is followed by another).
        try ip(["-n", namespace, "route", "del", "default", "dev", "lo"])
        var done = 1
        let waitedAgain = try await TestSupport.eventually(timeout: .seconds(60)) {
            guard try queueCounts(state)["done"] == done else { return false }
            #expect(try ServeProcess.taskhost(trigger, stateDirectory: state).status == 0)
            while true {
                let counts = try queueCounts(state)
                if counts["waiting"] == 1 { return true }
                if counts["done"] == done + 1 {
                    done += 1
                    return false
                }
                Thread.sleep(forTimeInterval: 0.02)
            }
        }
        #expect(waitedAgain, "\((try? queueCounts(state)).map { "\($0)" } ?? "")")
        #expect(serve.terminate() == 0)
    }
}

/// What creating a network namespace needs: root and `ip`.
enum NetworkNamespaces {
    /// The `ip` executable (iproute2), if installed.
    static let ip =
        ExternalTools.executable("ip") ?? ["/usr/sbin/ip", "/sbin/ip"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Why namespaces cannot be created here, if they cannot.
    static var unavailable: String? {
        if geteuid() != 0 { return "creating a network namespace needs root (.ci/run runs as root)" }
        return ExternalTools.missing(ip, "ip (iproute2)", install: "apt-get install iproute2")
    }
}
