import Crypto
import Foundation
import TaskHostWebPush
import Testing

/// VAPID (RFC 8292): each way a token can be wrong, with the status the RFC gives it.
@Suite struct VAPIDTests {
    let origin = "http://127.0.0.1:8080"
    let key = P256.Signing.PrivateKey()
    let now = Date()

    func authorization(audience: String? = nil, expiresIn: TimeInterval = 3600, subject: String = "mailto:a@example.com") -> String {
        let token = VAPID.sign(audience: audience ?? origin, subject: subject, expiresAt: now.addingTimeInterval(expiresIn), key: key)
        return VAPID.authorization(token: token, key: key.publicKey)
    }

    func check(_ authorization: String?, cryptoKey: String? = nil) throws(WebPushError) -> Date {
        let credentials = try VAPID.parse(authorization: authorization, cryptoKey: cryptoKey)
        return try VAPID.verify(credentials, audience: origin, now: now)
    }

    func status(_ authorization: String?, cryptoKey: String? = nil) -> Int {
        do {
            _ = try check(authorization, cryptoKey: cryptoKey)
            return 201
        } catch {
            return error.status
        }
    }

    @Test func aValidTokenVerifies() throws {
        let exp = try check(authorization())
        #expect(abs(exp.timeIntervalSince(now) - 3600) < 1)
    }

    @Test func theOlderWebPushSchemeWithCryptoKeyVerifies() throws {
        let token = VAPID.sign(audience: origin, expiresAt: now.addingTimeInterval(600), key: key)
        let cryptoKey = "dh=BAAA;p256ecdsa=" + Base64URL.encode(Array(key.publicKey.x963Representation))
        #expect(status("WebPush " + token, cryptoKey: cryptoKey) == 201)
        #expect(status("WebPush " + token, cryptoKey: nil) == 403)
    }

    @Test func anExpiredTokenIsForbidden() {
        #expect(status(authorization(expiresIn: -10)) == 403)
    }

    @Test func anExpiryMoreThanADayAheadIsForbidden() {
        #expect(status(authorization(expiresIn: 25 * 3600)) == 403)
        #expect(status(authorization(expiresIn: 24 * 3600)) == 201)
    }

    @Test func anotherAudienceIsForbidden() {
        #expect(status(authorization(audience: "https://push.example.com")) == 403)
        #expect(status(authorization(audience: origin + "/")) == 403)
    }

    @Test func aMissingSubjectIsForbidden() {
        #expect(status(authorization(subject: "")) == 403)
    }

    @Test func aBadSignatureIsForbidden() throws {
        let token = VAPID.sign(audience: origin, expiresAt: now.addingTimeInterval(600), key: key)
        var parts = token.split(separator: ".").map(String.init)
        var signature = Base64URL.decode(parts[2])!
        signature[10] ^= 1
        parts[2] = Base64URL.encode(signature)
        #expect(status(VAPID.authorization(token: parts.joined(separator: "."), key: key.publicKey)) == 403)
        // Signed by one key, presented with another.
        #expect(status(VAPID.authorization(token: token, key: P256.Signing.PrivateKey().publicKey)) == 403)
        do {
            _ = try check(VAPID.authorization(token: token, key: P256.Signing.PrivateKey().publicKey))
        } catch {
            #expect(error.code == .badSignature)
        }
    }

    @Test func anAbsentAuthorizationIsUnauthorized() {
        #expect(status(nil) == 401)
        #expect(status("") == 401)
        #expect(status("Bearer cr_x.y") == 401)
    }

    @Test(arguments: [
        "vapid", "vapid t=", "vapid k=BAAA", "vapid t=a.b.c", "vapid t=a.b.c, k=notbase64!!", "vapid t=x, k=BCVxsr7N",
        "vapid t=e30.e30.AAAA, k=BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
        "WebPush", "vapid t=...,k=...",
    ])
    func aMalformedHeaderIsForbidden(header: String) {
        #expect(status(header) == 403, "\(header)")
    }

    @Test func theCacheVerifiesAReusedTokenOnceAndStillRefusesOthers() throws {
        let cache = VerifiedTokenCache()
        let credentials = try VAPID.parse(authorization: authorization(), cryptoKey: nil)
        _ = try cache.verify(credentials, audience: origin, now: now)
        _ = try cache.verify(credentials, audience: origin, now: now)
        #expect(cache.count == 1)
        // The same token with another key is verified (and refused) on its own.
        let forged = VAPIDCredentials(token: credentials.token, key: Array(P256.Signing.PrivateKey().publicKey.x963Representation))
        #expect(throws: WebPushError.self) { try cache.verify(forged, audience: origin, now: now) }
        // Past its exp, the cached token is verified again, and refused.
        #expect(throws: WebPushError.self) { try cache.verify(credentials, audience: origin, now: now.addingTimeInterval(7200)) }
    }

    @Test func theCacheParsesAndVerifiesAHeaderOnceAndRefusesWhatItWouldRefuseUncached() throws {
        let cache = VerifiedTokenCache()
        let header = authorization()
        let first = try cache.authorize(authorization: header, cryptoKey: nil, audience: origin, now: now)
        let again = try cache.authorize(authorization: header, cryptoKey: nil, audience: origin, now: now)
        #expect(first == again)
        #expect(first.key == Array(key.publicKey.x963Representation))
        #expect(first.keyText == Base64URL.encode(first.key))
        #expect(cache.count == 1)
        // Another audience is a different push service: the same header is verified for it, and refused.
        #expect(throws: WebPushError.self) {
            try cache.authorize(authorization: header, cryptoKey: nil, audience: "https://other.example", now: now)
        }
        // A refused header is not remembered: it is refused every time, with the uncached error.
        for _ in 0..<2 {
            #expect(throws: WebPushError.self) {
                try cache.authorize(authorization: "vapid t=e30.e30.AAAA, k=AAAA", cryptoKey: nil, audience: origin, now: now)
            }
        }
        #expect(cache.count == 1)
        // Past the token's exp, the remembered header is verified again, and refused.
        let late = now.addingTimeInterval(7200)
        #expect(throws: WebPushError.self) { try cache.authorize(authorization: header, cryptoKey: nil, audience: origin, now: late) }
    }
}
