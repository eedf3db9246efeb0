import Foundation
import TaskHostTestSupport

/// An application server built on pywebpush (from PyPI, pinned in
/// Tests/requirements.txt): a Web Push implementation this project did not
/// write, which encrypts (RFC 8291) and signs (VAPID) as app servers do.
struct WebPushSender {
    let python: String
    let script: String
    /// The VAPID key pair: private (raw scalar) and public (uncompressed), base64url.
    let privateKey: String
    let publicKey: String

    /// What pywebpush's request got back.
    struct Answer: Decodable {
        var status: Int
        var location: String?
        var ttl: String?
        var body: String
    }

    /// A sender with a fresh VAPID key, or `nil` (with why) when pywebpush is not installed.
    static func make(in directory: String) async throws -> Result<WebPushSender, Missing> {
        guard let python = ExternalTools.python else {
            return .failure(Missing(message: ExternalTools.missing(nil, "the tests' Python environment with pywebpush", install: install)!))
        }
        let script = directory + "/webpush_sender.py"
        try source.write(toFile: script, atomically: true, encoding: .utf8)
        let keys = try await run(python, [script, "keys"])
        guard keys.status == 0, let data = keys.out.data(using: .utf8),
            let pair = try? JSONDecoder().decode([String: String].self, from: data), let privateKey = pair["private"],
            let publicKey = pair["public"]
        else {
            return .failure(Missing(message: "pywebpush is not usable (\(install)): \(keys.err.suffix(400))"))
        }
        return .success(WebPushSender(python: python, script: script, privateKey: privateKey, publicKey: publicKey))
    }

    struct Missing: Error { var message: String }

    static let install = "python3 -m venv .build/test-venv && .build/test-venv/bin/pip install -r Tests/requirements.txt"

    /// Sends `data` to `subscription` (its `toJSON()` text) with pywebpush;
    /// `scheme` `webpush` signs with the older `Authorization: WebPush` + `Crypto-Key` form.
    /// `audience` replaces the VAPID `aud` pywebpush derives from the endpoint.
    func send(
        _ subscription: String, _ data: String, ttl: Int = 60, headers: [String: String] = [:], scheme: String = "vapid",
        audience: String? = nil
    ) async throws -> Answer {
        let headerJSON = String(decoding: try JSONEncoder().encode(headers), as: UTF8.self)
        let result = try await Self.run(
            python, [script, "send", subscription, privateKey, data, String(ttl), headerJSON, scheme] + (audience.map { [$0] } ?? []))
        guard result.status == 0, let answer = try? JSONDecoder().decode(Answer.self, from: Data(result.out.utf8)) else {
            throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "pywebpush failed: \(result.err.suffix(800))"])
        }
        return answer
    }

    /// Runs Python on a thread of its own: the wait (a second or so per push)
    /// must not hold one of the few threads Swift's concurrency runs every
    /// other test's tasks on (a dispatcher waiting to retry, say).
    private static func run(_ python: String, _ arguments: [String]) async throws -> (status: Int32, out: String, err: String) {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                do {
                    let process = try ChildProcess.start(python, arguments: arguments, workingDirectory: nil, output: .pipe, error: .pipe)
                    let out = process.readBlocking(.output)
                    let err = process.readBlocking(.error)
                    process.waitUntilExit()
                    continuation.resume(returning: (process.terminationStatus, out, err))
                } catch {
                    continuation.resume(throwing: error)
                }
            }.start()
        }
    }

    static let source = #"""
        import base64, json, sys
        from cryptography.hazmat.primitives import serialization
        from py_vapid import Vapid, Vapid01
        from pywebpush import WebPushException, webpush

        def b64(data):
            return base64.urlsafe_b64encode(data).decode().rstrip("=")

        if sys.argv[1] == "keys":
            vapid = Vapid()
            vapid.generate_keys()
            private = vapid.private_key.private_numbers().private_value.to_bytes(32, "big")
            public = vapid.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
            print(json.dumps({"private": b64(private), "public": b64(public)}))
            sys.exit(0)

        subscription, private, data, ttl, headers, scheme = sys.argv[2:8]
        key = Vapid01.from_string(private_key=private) if scheme == "webpush" else private
        claims = {"sub": "mailto:tests@example.com"}
        if len(sys.argv) > 8:
            claims["aud"] = sys.argv[8]
        try:
            response = webpush(json.loads(subscription), data=data, vapid_private_key=key,
                               vapid_claims=claims, ttl=int(ttl), headers=json.loads(headers))
        except WebPushException as error:
            response = error.response
        print(json.dumps({"status": response.status_code, "location": response.headers.get("Location"),
                          "ttl": response.headers.get("TTL"), "body": response.text}))
        """#
}
