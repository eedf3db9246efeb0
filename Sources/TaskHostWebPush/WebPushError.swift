/// Why a Web Push was refused: a stable code, the HTTP status RFC 8030, 8291
/// and 8292 give it, and a sentence saying what to fix.
package struct WebPushError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong, as a stable name.
    package enum Code: String, Sendable {
        /// The body is not an `aes128gcm` message (header, record size, key id).
        case malformedBody = "malformed-body"
        /// The body did not decrypt with the subscription's keys.
        case undecryptable
        /// The decrypted record's padding is not RFC 8188's.
        case badPadding = "bad-padding"
        /// No VAPID authorization was sent.
        case missingAuthorization = "missing-authorization"
        /// The VAPID header or its JWT could not be read.
        case malformedAuthorization = "malformed-authorization"
        /// The JWT's signature does not verify with the key sent.
        case badSignature = "bad-signature"
        /// A JWT claim is missing or wrong (`aud`, `exp`, `sub`).
        case badClaims = "bad-claims"
        /// The key is not the subscription's application server key.
        case wrongKey = "wrong-key"
    }

    /// The error's code.
    package var code: Code
    /// What was wrong and what to do.
    package var message: String

    /// Creates an error.
    package init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The HTTP status of the answer: 400 for a body that does not decrypt,
    /// 401 for absent authentication, 403 for invalid authentication (RFC 8292 section 4.2).
    package var status: Int {
        switch code {
        case .malformedBody, .undecryptable, .badPadding: 400
        case .missingAuthorization: 401
        case .malformedAuthorization, .badSignature, .badClaims, .wrongKey: 403
        }
    }

    /// The code and the message.
    package var description: String { "\(code.rawValue): \(message)" }
}
