import Foundation
import GRDB
import TaskHostCore
import TaskHostServer
import TaskHostStore
import TaskHostTestSupport
import Testing

/// What `/healthz` and `/readyz` answer on the push listener's router and
/// on the operator listener's, driven in-process (``RouterServer``): the
/// readiness reasons, the headers, HEAD, 405 for another method.
@Suite struct HealthRouteTests {
    @Test func bothRoutersAnswerHealthAndReadiness() async throws {
        let server = try RouterServer()
        for onOperator in [false, true] {
            let alive = try await server.get("/healthz", onOperator: onOperator)
            #expect(alive.status == 200 && alive.body == "ok\n", "\(alive)")
            #expect(alive.header("Cache-Control") == "no-store")
            // Not ready before the dispatcher has recovered the queue and runs: 503, and why, on one line.
            let early = try await server.get("/readyz", onOperator: onOperator)
            #expect(early.status == 503, "\(early)")
            #expect(
                early.body == "not ready: the dispatcher has not started yet (it waits for the listeners and the plugins directory)\n",
                "\(early.body)")
        }
        server.health.dispatcherStarted()
        for onOperator in [false, true] {
            let ready = try await server.get("/readyz", onOperator: onOperator)
            #expect(ready.status == 200 && ready.body == "ready\n", "\(ready)")
            #expect(ready.header("Cache-Control") == "no-store")
            #expect(ready.header("Content-Type") == "text/plain; charset=utf-8")
            let head = try await server.get("/readyz", onOperator: onOperator, method: "HEAD")
            #expect(head.status == 200 && head.body.isEmpty, "\(head)")
            let wrongMethod = try await server.get("/readyz", onOperator: onOperator, method: "POST")
            #expect(wrongMethod.status == 405 && wrongMethod.header("Allow") == "GET, HEAD", "\(wrongMethod)")
        }
        // The push route is the push listener's alone.
        #expect(try await server.get("/push/v1/abc", onOperator: true, method: "POST").status == 404)
        // Shutting down: not ready any more, alive until the process ends.
        server.health.stopping()
        let stopping = try await server.get("/readyz")
        #expect(stopping.status == 503 && stopping.body == "not ready: the host is shutting down\n", "\(stopping)")
        #expect(try await server.get("/healthz").status == 200)
    }

    /// Another connection holds the database's write lock: `/readyz` answers
    /// 503 with the store's reason while it lasts, and 200 once it is released.
    @Test func readinessIs503WhileTheStoreCannotTakeWrites() async throws {
        let server = try RouterServer()
        server.health.dispatcherStarted()
        #expect(try await server.get("/readyz").status == 200)

        let locked = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let holder = Thread {
            do {
                let queue = try DatabaseQueue(path: server.store.path)
                try queue.inTransaction(.immediate) { _ in
                    locked.signal()
                    release.wait()
                    return .rollback
                }
            } catch {
                Issue.record("cannot hold the write lock: \(error)")
                locked.signal()
            }
        }
        holder.start()
        try await offThePool { locked.wait() }
        let unready = await HealthEndpointTests.eventually(timeout: .seconds(30)) {
            (try? await server.get("/readyz", onOperator: true).status) == 503
        }
        let answer = try await server.get("/readyz", onOperator: true)
        release.signal()
        #expect(unready, "\(answer)")
        #expect(answer.body.hasPrefix("not ready: the store does not answer: busy: "), "\(answer.body)")
        #expect(answer.body.split(separator: "\n").count == 1, "one line: \(answer.body)")
        #expect(try await server.get("/healthz").status == 200, "alive all along")
        #expect(await HealthEndpointTests.eventually(timeout: .seconds(30)) { (try? await server.get("/readyz").status) == 200 })
    }
}
