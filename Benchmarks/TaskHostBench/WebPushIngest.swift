import Crypto
import Foundation
import TaskHostCore
import TaskHostStore
import TaskHostStoreBackends
import TaskHostWebPush

extension Bench {
    /// Distinct encrypted bodies the wrk script cycles through: each push is
    /// its own message (its own sender key, so its own ECDH on the server).
    static let webPushBodies = 64
    /// Rounds per client count: each runs both servers once, in alternating order.
    static let webPushRounds = 5

    /// A wrk script that POSTs to `path` with `headers`, a distinct body of
    /// `bodies` per request in turn, and prints one RESULT line. Both sides of
    /// the section's ratio use it, so that wrk spends about the same CPU per
    /// request on both on this shared machine.
    static func cyclingScript(_ what: String, path: String, headers: [(String, String)], bodies: [[UInt8]]) -> String {
        let literals = bodies.map { body in "\"" + body.map { "\\" + String($0) }.joined() + "\"" }
        let fields = headers.map { "[\"\($0.0)\"] = \"\($0.1)\"" }.joined(separator: ", ")
        return """
            -- wrk script: \(what), a distinct body per request in turn.
            local bodies = { \(literals.joined(separator: ",\n")) }
            local headers = { \(fields) }
            local n = 0
            request = function()
              n = n % #bodies + 1
              return wrk.format("POST", "\(path)", headers, bodies[n])
            end
            \(resultFunction)
            """
    }

    /// Web Push messages (64-byte plaintext, aes128gcm, one reused VAPID token) to one subscription.
    static func webPushScript(path: String, authorization: String, bodies: [[UInt8]]) -> String {
        cyclingScript(
            "Web Push messages to one subscription", path: path,
            headers: [("TTL", "60"), ("Content-Encoding", "aes128gcm"), ("Authorization", authorization)], bodies: bodies)
    }

    /// The WNS-style baseline of this section: raw pushes of distinct 64-byte bodies.
    static func wnsScript(path: String, token: String) -> String {
        let bodies = (0..<webPushBodies).map { index in Array((String(format: "%02d", index) + String(repeating: "x", count: 62)).utf8) }
        return cyclingScript(
            "raw WNS pushes to one channel", path: path,
            headers: [("Authorization", "Bearer \(token)"), ("X-WNS-Type", "wns/raw"), ("Content-Type", "application/octet-stream")],
            bodies: bodies)
    }

    /// wrk's `done`: one RESULT line (requests, duration, p50, p99, non-2xx answers, socket errors).
    static let resultFunction = """
        done = function(summary, latency, requests)
          io.write(string.format("RESULT %d %d %d %d %d %d\\n", summary.requests, summary.duration,
            latency:percentile(50), latency:percentile(99), summary.errors.status,
            summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
        end
        """

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
        try Self.wnsScript(path: "/push/v1/\(wns.channel)", token: wns.token).write(toFile: wnsScript, atomically: true, encoding: .utf8)

        let directory = "\(state)/webpush"
        let store = try StoreLocation.stateDirectory(StateDirectory(path: directory)).open()
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

        let rounds = quick ? 1 : Self.webPushRounds
        var table = Table(
            "Web Push ingest vs WNS-style ingest (wrk, keep-alive, loopback, 64-byte payloads, `group`, \(rounds) rounds in alternating order, "
                + "\(Format.count(seconds)) s per cell)",
            [
                "clients", "protocol", "acknowledged pushes/s", "p50", "p99", "server CPU per push", "wrk CPU per push",
                "Web Push / WNS (median of rounds)", "range",
            ])
        var ratio64 = Double.nan
        for clients in [1, 16, 64] {
            var raws: [WrkResult] = []
            var webs: [WrkResult] = []
            var ratios: [Double] = []
            for round in 0..<rounds {
                // Alternate which side goes first, so drift and warm-up hit both alike.
                var raw: WrkResult?
                var web: WrkResult?
                for side in round % 2 == 0 ? [0, 1] : [1, 0] {
                    if side == 0 {
                        raw = try Self.wrk(wrk, clients: clients, seconds: seconds, script: wnsScript, server: wns)
                    } else {
                        web = try Self.wrk(wrk, clients: clients, seconds: seconds, script: script, server: webPush)
                    }
                }
                guard let raw, let web else { continue }
                raws.append(raw)
                webs.append(web)
                ratios.append(web.rate / raw.rate)
            }
            let ratio = Self.median(ratios)
            for (name, results) in [("WNS raw", raws), ("Web Push", webs)] {
                func median(_ value: (WrkResult) -> Double) -> Double { Self.median(results.map(value)) }
                table.row(
                    "\(clients)", name, Format.count(median(\.rate)), Format.ms(median(\.p50)), Format.ms(median(\.p99)),
                    String(format: "%.0f µs", median(\.cpuPerRequest)), String(format: "%.0f µs", median(\.clientCPUPerRequest)),
                    name == "Web Push" ? Format.ratio(ratio, over: 1) : "1.00×",
                    name == "Web Push"
                        ? Format.ratio(ratios.min() ?? .nan, over: 1) + " – " + Format.ratio(ratios.max() ?? .nan, over: 1) : "")
                let failures = results.map(\.failures).reduce(0, +)
                if failures > 0 { table.note("⚠ \(clients) clients, \(name): \(failures) non-2xx answers or socket errors") }
            }
            if clients == 64 { ratio64 = ratio }
        }
        let stored = try store.queueCounts().values.reduce(0, +)
        table.note(
            "Web Push: each request is an aes128gcm message (one of \(Self.webPushBodies) bodies, each from its own sender key, so each costs "
                + "the server an ECDH and an AES-GCM open) signed with one reused VAPID token (verified once, then cached until its exp); "
                + "answered 201 after the same group commit as WNS pushes. Both wrk scripts build each request in the same Lua "
                + "function from one of 64 distinct bodies, so the client (on the same two cores) costs about the same per push on both sides. \(Format.count(Double(stored))) Web Push messages in its queue at the end. "
                + "Rates, latencies and CPU are medians over the rounds; the ratio is the median of each round's ratio, with its range. "
                + String(format: "At 64 clients: Web Push = %.2f× WNS (target ≥ 0.6×).", ratio64))
        let decrypt = try Self.decryptCost(
            bodies, keys: WebPushReceiverKeys(privateKey: subscription.privateKey, authSecret: subscription.authSecret))
        table.note(
            String(
                format: "The floor under this ratio, measured in-process in the same run: one message's decryption costs %.0f µs of CPU "
                    + "(ECDH with the sender's key %.0f µs, key derivation %.0f µs, AES-GCM open %.0f µs), on one thread, without HTTP or store.",
                decrypt.total, decrypt.ecdh, decrypt.derive, decrypt.open))
        table.print()
    }

    /// CPU per decryption of `bodies` (cycled), split into its steps, in µs.
    static func decryptCost(_ bodies: [[UInt8]], keys: WebPushReceiverKeys) throws -> (
        total: Double, ecdh: Double, derive: Double, open: Double
    ) {
        let rounds = 2_000
        func micros(_ work: () throws -> Void) rethrows -> Double {
            let start = ContinuousClock.now
            for _ in 0..<rounds { try work() }
            let elapsed = ContinuousClock.now - start
            return (Double(elapsed.components.seconds) * 1e6 + Double(elapsed.components.attoseconds) / 1e12) / Double(rounds)
        }
        var index = 0
        func next() -> [UInt8] {
            index = (index + 1) % bodies.count
            return bodies[index]
        }
        let total = try micros { _ = try WebPushMessage.decrypt(next(), with: keys) }
        var shared: [UInt8] = []
        let ecdh = try micros {
            let sender = try P256.KeyAgreement.PublicKey(x963Representation: next()[21..<86])
            shared = try keys.privateKey.sharedSecretFromKeyAgreement(with: sender).withUnsafeBytes { Array($0) }
        }
        let body = bodies[0]
        shared = try keys.privateKey.sharedSecretFromKeyAgreement(with: P256.KeyAgreement.PublicKey(x963Representation: body[21..<86]))
            .withUnsafeBytes { Array($0) }
        var derived = WebPushMessage.derive(
            sharedSecret: shared, authSecret: keys.authSecret, receiverKey: keys.publicKey, senderKey: Array(body[21..<86]),
            salt: Array(body[0..<16]))
        let derive = micros {
            derived = WebPushMessage.derive(
                sharedSecret: shared, authSecret: keys.authSecret, receiverKey: keys.publicKey, senderKey: Array(body[21..<86]),
                salt: Array(body[0..<16]))
        }
        let open = try micros {
            let box = try AES.GCM.SealedBox(
                nonce: AES.GCM.Nonce(data: derived.nonce), ciphertext: body[86...].dropLast(16), tag: body.suffix(16))
            _ = try AES.GCM.open(box, using: derived.key)
        }
        return (total, ecdh, derive, open)
    }
}
