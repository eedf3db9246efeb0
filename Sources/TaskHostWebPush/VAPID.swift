package import Crypto
package import Foundation

/// What a push's VAPID authorization (RFC 8292) presents: the JWT and the
/// application server's public key.
package struct VAPIDCredentials: Sendable, Equatable {
    /// The JWT (`t=`, or the token after `WebPush`).
    package let token: String
    /// The public key, uncompressed P-256 (`k=`, or `Crypto-Key: p256ecdsa=`).
    package let key: [UInt8]
    /// ``key`` in base64url without padding (a sender's name in rate limits and caches).
    package let keyText: String

    /// Creates credentials.
    package init(token: String, key: [UInt8]) {
        self.token = token
        self.key = key
        self.keyText = Base64URL.encode(key)
    }
}

/// VAPID (RFC 8292): reading the authorization, checking the ES256 JWT and
/// its claims, and signing one (for tests and the benchmark).
package enum VAPID {
    /// The latest `exp` accepted: 24 hours ahead (RFC 8292 section 2), with a
    /// minute's allowance for the sender's clock.
    package static let maxLifetime: TimeInterval = 24 * 3600 + 60

    /// Reads the credentials of `Authorization: vapid t=JWT, k=KEY`, or of
    /// the older `Authorization: WebPush JWT` with `Crypto-Key: p256ecdsa=KEY`.
    package static func parse(authorization: String?, cryptoKey: String?) throws(WebPushError) -> VAPIDCredentials {
        guard let authorization = authorization.map({ trimmed(Substring($0)) }), !authorization.isEmpty else {
            throw WebPushError(
                .missingAuthorization, "missing VAPID authorization: send Authorization: vapid t=<JWT>, k=<public key> (RFC 8292)")
        }
        let scheme = authorization.prefix { $0 != " " }.lowercased()
        let rest = trimmed(authorization.dropFirst(scheme.count))
        var token: String?
        var key: String?
        switch scheme {
        case "vapid":
            for parameter in rest.split(separator: ",") {
                let pair = parameter.split(separator: "=", maxSplits: 1).map { trimmed($0) }
                guard pair.count == 2 else { continue }
                let value = String(trimmed(pair[1], quotes: true))
                switch pair[0].lowercased() {
                case "t": token = value
                case "k": key = value
                default: continue
                }
            }
        case "webpush":
            token = String(rest)
            for parameter in (cryptoKey ?? "").split(whereSeparator: { $0 == ";" || $0 == "," }) {
                let pair = parameter.split(separator: "=", maxSplits: 1).map { trimmed($0) }
                if pair.count == 2, pair[0].lowercased() == "p256ecdsa" { key = String(trimmed(pair[1], quotes: true)) }
            }
            guard key != nil else {
                throw WebPushError(.malformedAuthorization, "Authorization: WebPush needs the key in Crypto-Key: p256ecdsa=<public key>")
            }
        default:
            throw WebPushError(
                .missingAuthorization,
                "the Authorization scheme \"\(scheme.prefix(20))\" is not VAPID: send Authorization: vapid t=<JWT>, k=<public key> (RFC 8292)"
            )
        }
        guard let token, !token.isEmpty, let key else {
            throw WebPushError(.malformedAuthorization, "the vapid authorization needs both t=<JWT> and k=<public key>")
        }
        guard let keyBytes = Base64URL.decode(key), keyBytes.count == 65, keyBytes.first == 4 else {
            throw WebPushError(
                .malformedAuthorization, "k is not an uncompressed P-256 public key in base64url (65 bytes, starting with 0x04)")
        }
        return VAPIDCredentials(token: token, key: keyBytes)
    }

    /// `text` without leading and trailing spaces and tabs (and double quotes
    /// when `quotes`), in plain Swift: Foundation's trimming goes through
    /// `NSString` on Linux, which cost more than a push's ECDH (measured).
    package static func trimmed(_ text: Substring, quotes: Bool = false) -> Substring {
        func strip(_ character: Character) -> Bool { character == " " || character == "\t" || (quotes && character == "\"") }
        var text = text
        while let first = text.first, strip(first) { text.removeFirst() }
        while let last = text.last, strip(last) { text.removeLast() }
        return text
    }

    /// Checks the JWT of `credentials`: ES256 signature by its key, `aud`
    /// equal to `audience` (this push service's origin), `exp` in the future
    /// and at most 24 hours ahead, `sub` present. Returns `exp`.
    package static func verify(_ credentials: VAPIDCredentials, audience: String, now: Date = Date()) throws(WebPushError) -> Date {
        let parts = credentials.token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerBytes = Base64URL.decode(parts[0]), let claimsBytes = Base64URL.decode(parts[1]),
            let signatureBytes = Base64URL.decode(parts[2])
        else {
            throw WebPushError(.malformedAuthorization, "the VAPID token is not a JWT (three base64url parts separated by dots)")
        }
        guard let header = (try? JSONSerialization.jsonObject(with: Data(headerBytes))) as? [String: Any],
            let claims = (try? JSONSerialization.jsonObject(with: Data(claimsBytes))) as? [String: Any]
        else {
            throw WebPushError(.malformedAuthorization, "the VAPID token's header or claims are not JSON objects")
        }
        guard header["alg"] as? String == "ES256" else {
            throw WebPushError(.malformedAuthorization, "the VAPID token must be signed with ES256 (alg \"ES256\")")
        }
        guard let key = try? P256.Signing.PublicKey(x963Representation: credentials.key) else {
            throw WebPushError(.malformedAuthorization, "k is not a point on the P-256 curve")
        }
        guard signatureBytes.count == 64, let signature = try? P256.Signing.ECDSASignature(rawRepresentation: signatureBytes) else {
            throw WebPushError(.malformedAuthorization, "the JWT signature must be 64 bytes (r and s, not DER)")
        }
        let signed = Data((parts[0] + "." + parts[1]).utf8)
        guard key.isValidSignature(signature, for: signed) else {
            throw WebPushError(.badSignature, "the VAPID token's signature does not verify with the key k")
        }
        guard let aud = claims["aud"] as? String, aud == audience else {
            // The sender's aud is not echoed: it is the sender's text, and the answer goes into a header.
            throw WebPushError(
                .badClaims, "the VAPID token's aud must be this push service's origin, \(audience) (see taskhost serve --public-url)")
        }
        guard let expNumber = claims["exp"] as? NSNumber else {
            throw WebPushError(.badClaims, "the VAPID token has no exp claim (seconds since 1970)")
        }
        let exp = Date(timeIntervalSince1970: expNumber.doubleValue)
        guard exp > now else { throw WebPushError(.badClaims, "the VAPID token expired (exp is in the past); sign a new one") }
        guard exp.timeIntervalSince(now) <= maxLifetime else {
            throw WebPushError(.badClaims, "the VAPID token's exp is more than 24 hours ahead (RFC 8292 section 2)")
        }
        guard let sub = claims["sub"] as? String, !sub.isEmpty else {
            throw WebPushError(.badClaims, "the VAPID token has no sub claim (a mailto: or https: contact)")
        }
        return exp
    }

    /// A VAPID JWT for `audience`, signed with `key` (application server side).
    package static func sign(
        audience: String, subject: String = "mailto:ops@example.com", expiresAt: Date, key: P256.Signing.PrivateKey
    ) -> String {
        let header = Base64URL.encode(Array(#"{"typ":"JWT","alg":"ES256"}"#.utf8))
        let claims: [String: Any] = ["aud": audience, "exp": Int(expiresAt.timeIntervalSince1970), "sub": subject]
        let claimsJSON = (try? JSONSerialization.data(withJSONObject: claims, options: [.sortedKeys])) ?? Data()
        let input = header + "." + Base64URL.encode(Array(claimsJSON))
        let signature = (try? key.signature(for: Data(input.utf8)))?.rawRepresentation ?? Data()
        return input + "." + Base64URL.encode(Array(signature))
    }

    /// `Authorization: vapid t=…, k=…` for a token and its key.
    package static func authorization(token: String, key: P256.Signing.PublicKey) -> String {
        "vapid t=\(token), k=\(Base64URL.encode(Array(key.x963Representation)))"
    }
}
