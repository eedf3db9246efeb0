import Foundation
import TaskHostCore
import TaskHostStore
import TaskHostStoreBackends

extension Bench {
    /// What one durable enqueue transaction costs the writer, by batch size:
    /// the group committer's unit of work, measured without HTTP around it,
    /// so the fixed cost of a commit and the cost of each push show apart.
    func storeCost(state: String) throws {
        var table = Table(
            "Store: one durable enqueue transaction (the SQLite store's `enqueue`, as the group committer runs it), by batch size",
            ["pushes per commit", "commits", "writer CPU per commit", "writer CPU per push", "wall per commit", "CPU per push vs batch 1"])
        var perPushAlone = Double.nan
        for batch in [1, 4, 16, 64] {
            let store = try StoreLocation.stateDirectory(StateDirectory(path: "\(state)/store-cost-\(batch)")).open()
            let commits = (quick ? 2_000 : 8_000) / batch + 100
            // Built beforehand: in the server, the HTTP handlers build them, in parallel.
            let batches = (0..<commits).map { _ in
                (0..<batch).map { _ -> NewTrigger in
                    let event = TriggerEvent(
                        kind: .pushNotification, triggerId: NewTrigger.newId(), payload: Array(repeating: 120, count: 64),
                        channelId: PushChannel.newId(),
                        headers: [
                            "x-wns-type": "wns/raw", "content-type": "application/octet-stream", "host": "127.0.0.1:8080",
                            "content-length": "64",
                        ])
                    return NewTrigger(app: "com.example.bench", task: "Noop", event: event)
                }
            }
            let cpuStart = Clock.threadCPU()
            let wallStart = Clock.monotonic()
            for triggers in batches { try store.enqueue(triggers) }
            let cpu = Double(Clock.threadCPU() - cpuStart) / 1e3 / Double(commits)
            let wall = Double(Clock.monotonic() - wallStart) / 1e3 / Double(commits)
            let perPush = cpu / Double(batch)
            if batch == 1 { perPushAlone = perPush }
            table.row(
                "\(batch)", Format.count(Double(commits)), String(format: "%.0f µs", cpu), String(format: "%.1f µs", perPush),
                String(format: "%.0f µs", wall), Format.ratio(perPush, over: perPushAlone))
        }
        table.note(
            "One thread, a fresh store per row, 64-byte payloads with the headers a WNS push carries; wall includes the fsync. "
                + "The difference between rows is what a push adds to a commit; the rest is the commit's own (BEGIN, one WAL frame per "
                + "B-tree page touched, fsync, checkpoints).")
        table.print()
    }
}
