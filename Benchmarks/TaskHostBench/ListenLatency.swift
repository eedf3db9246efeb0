import Foundation
import Logging
import Synchronization
import TaskHostClient
import TaskHostServer
import TaskHostStore

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

extension Bench {
    /// Foreground listeners (issue 18): how soon a listener sees a push, next to
    /// the push's own round trip, in the same run. One observing listener
    /// (`TaskHostClient`) on an in-process daemon over SQLite; one push at a
    /// time (64 bytes), the next once the listener has it. Each sample starts
    /// when the push is sent: its 200, and the listener's receipt.
    func listenLatency(_ products: Products, state: String) async throws {
        let directory = state + "/listen"
        let store = try SQLiteTaskStore(stateDirectory: StateDirectory(path: directory))
        let (credential, listenToken) = Credential.make(app: "com.example.bench", label: "listener", scope: .listen)
        try store.insertCredential(credential)
        let daemon = try await InProcessDaemon.start(store: store, products: products, mode: .group)
        defer { Task { await daemon.stop() } }
        let count = quick ? 100 : 500
        let seen = ListenTimes()
        let listener = TaskHostListener(
            url: "http://127.0.0.1:\(daemon.port)", app: "com.example.bench", token: listenToken, claims: false, logger: .silent)
        let measured = Measured()
        try await listener.run { pushes in
            let reader = Task {
                for try await _ in pushes { seen.record() }
            }
            defer { reader.cancel() }
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(daemon.port)/push/v1/\(daemon.channel)")!)
            request.httpMethod = "POST"
            request.setValue("Bearer \(daemon.token)", forHTTPHeaderField: "Authorization")
            request.setValue("wns/raw", forHTTPHeaderField: "X-WNS-Type")
            request.setValue("application/octet-stream", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(repeating: 0x61, count: 64)
            for index in 0..<(count + 20) {
                let start = Clock.monotonic()
                let (_, response) = try await URLSession.shared.data(for: request)
                let answered = Clock.monotonic()
                guard (response as? HTTPURLResponse)?.statusCode == 200 else { throw BenchError("a push was not acknowledged") }
                guard let received = await seen.next(timeout: .seconds(5)) else { throw BenchError("the listener missed a push") }
                if index >= 20 {  // the first 20 warm the connections up
                    measured.samples.withLock { samples in
                        samples.roundTrips.add(answered - start)
                        samples.toListener.add(received - start)
                        samples.after200.add(max(0, received - answered))
                    }
                }
            }
        }
        let (roundTrips, toListener, after200) = measured.samples.withLock { ($0.roundTrips, $0.toListener, $0.after200) }
        var table = Table(
            "Foreground listener: push sent → its 200, and → an observing listener has it (64-byte pushes, one at a time, SQLite)",
            ["what", "p50", "p99", "samples"])
        table.row("push round trip (sent → 200)", Format.ms(roundTrips.p50), Format.ms(roundTrips.p99), "\(roundTrips.values.count)")
        table.row("push sent → listener has it", Format.ms(toListener.p50), Format.ms(toListener.p99), "\(toListener.values.count)")
        table.row(
            "200 → listener has it (0: before the 200 arrived)", Format.ms(after200.p50), Format.ms(after200.p99),
            "\(after200.values.count)")
        table.note(
            "The host sends a push to its listeners right after the group commit that stores it, as it answers 200; "
                + "a listener that claims adds nothing here, but delays dispatch by the task's ClaimWindowMs.")
        table.print()
    }
}

/// The samples, written by the listener's body.
private final class Measured: Sendable {
    struct Values: Sendable {
        var roundTrips = Samples()
        var toListener = Samples()
        var after200 = Samples()
    }
    let samples = Mutex(Values())
}

/// When the listener received each push, handed to the loop that waits for it.
private final class ListenTimes: Sendable {
    private let times = Mutex<(received: [Int64], waiter: CheckedContinuation<Int64?, Never>?)>(([], nil))

    func record() {
        let now = Clock.monotonic()
        let waiter = times.withLock { state -> CheckedContinuation<Int64?, Never>? in
            guard let waiter = state.waiter else {
                state.received.append(now)
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume(returning: now)
    }

    /// The next receipt, waiting at most `timeout`.
    func next(timeout: Duration) async -> Int64? {
        let timer = Task {
            try await Task.sleep(for: timeout)
            let waiter = times.withLock { state in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: nil)
        }
        defer { timer.cancel() }
        return await withCheckedContinuation { continuation in
            let ready = times.withLock { state -> Int64? in
                if !state.received.isEmpty { return state.received.removeFirst() }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
