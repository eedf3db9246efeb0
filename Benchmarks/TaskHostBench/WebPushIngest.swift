import Crypto
import Foundation
import TaskHostCore
import TaskHostWebPush

extension Bench {
    /// Distinct encrypted bodies the wrk script cycles through: each push is
    /// its own message (its own sender key, so its own ECDH on the server).
    static let webPushBodies = 64

    /// The wrk script: Web Push messages (64-byte plaintext, aes128gcm,
    /// one reused VAPID token) to one subscription; prints one RESULT line.
    static func webPushScript(path: String, authorization: String, bodies: [[UInt8]]) -> String {
        let literals = bodies.map { body in "\"" + body.map { "\\" + String($0) }.joined() + "\"" }
        return """
            -- wrk script: Web Push messages to one subscription, a distinct body per request in turn.
            local bodies = { \(literals.joined(separator: ",\n")) }
            local headers = { ["TTL"] = "60", ["Content-Encoding"] = "aes128gcm", ["Authorization"] = "\(authorization)" }
            local n = 0
            request = function()
              n = n % #bodies + 1
              return wrk.format("POST", "\(path)", headers, bodies[n])
            end

            done = function(summary, latency, requests)
              io.write(string.format("RESULT %d %d %d %d %d %d\\n", summary.requests, summary.duration,
                latency:percentile(50), latency:percentile(99), summary.errors.status,
                summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
            end
            """
    }

    /// Web Push ingest (decryption and VAPID included) next to WNS-style
    /// ingest, both `group`, in the same run.
    func webPushIngest(_ products: Products, state: String) async throws {
        guard let wrk = Self.which("wrk") else {
            print("\n### Web Push ingest\n\nskipped: wrk is not installed (Debian/Ubuntu: apt-get install wrk)")
            return
        }
        let wns = try Self.ingestServer(products, mode: "group", directory: "\(state)/webpush-wns")
        defer { wns.process.stop() }
        let wnsScript = state + "/webpush-wns.lua"
        try pushScript.write(toFile: wnsScript, atomically: true, encoding: .utf8)

        let directory = "\(state)/webpush"
        let store = try SQLiteTaskStore(stateDirectory: StateDirectory(path: directory))
        let vapid = P256.Signing.PrivateKey()
        let subscription = WebPushSubscription.make(
            app: "com.example.bench", task: "Noop", applicationServerKey: Array(vapid.publicKey.x963Representation), expiresAt: nil)
        try store.insertSubscription(subscription)
        let server = try ServeProcess(
            products, state: directory,
            arguments: [
                "--no-dispatch", "--plugins-dir", "", "--channel-rate", "1000000000", "--channel-burst", "1000000000",
                "--client-rate", "1000000000", "--client-burst", "1000000000",
            ])
        defer { server.stop() }
        // One token for the whole run, as senders reuse theirs for hours.
        let token = VAPID.sign(audience: "http://127.0.0.1:\(server.port)", expiresAt: Date().addingTimeInterval(12 * 3600), key: vapid)
        let plaintext = [UInt8](repeating: 120, count: 64)
        let bodies = try (0..<Self.webPushBodies).map { _ in
            try WebPushMessage.encrypt(plaintext, receiverKey: subscription.publicKey, authSecret: subscription.authSecret)
        }
        let script = state + "/webpush.lua"
        try Self.webPushScript(
            path: "/webpush/v1/\(subscription.id)", authorization: VAPID.authorization(token: token, key: vapid.publicKey), bodies: bodies
        ).write(toFile: script, atomically: true, encoding: .utf8)
        let webPush = IngestServer(process: server, token: "", channel: subscription.id)

        var table = Table(
            "Web Push ingest vs WNS-style ingest (wrk, keep-alive, loopback, 64-byte payloads, `group`, \(Format.count(seconds)) s per cell)",
            ["clients", "protocol", "acknowledged pushes/s", "p50", "p99", "server CPU per push", "Web Push / WNS"])
        var ratio64 = Double.nan
        for clients in [1, 16, 64] {
            let raw = try Self.wrk(wrk, clients: clients, seconds: seconds, script: wnsScript, server: wns)
            let web = try Self.wrk(wrk, clients: clients, seconds: seconds, script: script, server: webPush)
            for (name, result) in [("WNS raw", raw), ("Web Push", web)] {
                table.row(
                    "\(clients)", name, Format.count(result.rate), Format.ms(result.p50), Format.ms(result.p99),
                    String(format: "%.0f µs", result.cpuPerRequest), name == "Web Push" ? Format.ratio(web.rate, over: raw.rate) : "1.00×")
                if result.failures > 0 { table.note("⚠ \(clients) clients, \(name): \(result.failures) non-2xx answers or socket errors") }
            }
            if clients == 64 { ratio64 = web.rate / raw.rate }
        }
        let stored = try store.queueCounts().values.reduce(0, +)
        table.note(
            "Web Push: each request is an aes128gcm message (one of \(Self.webPushBodies) bodies, each from its own sender key, so each costs "
                + "the server an ECDH and an AES-GCM open) signed with one reused VAPID token (verified once, then cached until its exp); "
                + "answered 201 after the same group commit as WNS pushes. \(Format.count(Double(stored))) Web Push messages in its queue at the end. "
                + String(format: "At 64 clients: Web Push = %.2f× WNS (target ≥ 0.6×).", ratio64))
        table.print()
    }
}
