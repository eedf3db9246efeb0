package import Crypto
import Foundation

/// A subscription's receiving keys (RFC 8291 section 2): the P-256 key pair
/// whose public half the subscription shows as `p256dh`, and its 16-byte
/// `auth` secret. Only the host holds the private half.
///
/// `@unchecked Sendable`: swift-crypto's key types are not `Sendable` on
/// Linux (a BoringSSL key behind a class), but the key is never changed after
/// it is made, and BoringSSL's ECDH only reads it, from any thread.
package struct WebPushReceiverKeys: @unchecked Sendable {
    /// The private key (ECDH).
    package let privateKey: P256.KeyAgreement.PrivateKey
    /// The public key, uncompressed (65 bytes): `keys.p256dh`.
    package let publicKey: [UInt8]
    /// The authentication secret (16 bytes): `keys.auth`.
    package let authSecret: [UInt8]

    /// Keys from their stored form: the 32-byte private scalar and the auth secret.
    package init(privateKey raw: [UInt8], authSecret: [UInt8]) throws(WebPushError) {
        guard let key = try? P256.KeyAgreement.PrivateKey(rawRepresentation: raw) else {
            throw WebPushError(.undecryptable, "the subscription's stored private key is unusable; create the subscription again")
        }
        self.init(privateKey: key, authSecret: authSecret)
    }

    /// Keys from a private key and an auth secret.
    package init(privateKey: P256.KeyAgreement.PrivateKey, authSecret: [UInt8]) {
        self.privateKey = privateKey
        self.publicKey = Array(privateKey.publicKey.x963Representation)
        self.authSecret = authSecret
    }

    /// A fresh key pair and auth secret.
    package static func generate() -> WebPushReceiverKeys {
        var secret = [UInt8](repeating: 0, count: 16)
        var generator = SystemRandomNumberGenerator()
        for index in secret.indices { secret[index] = generator.next() }
        return WebPushReceiverKeys(privateKey: P256.KeyAgreement.PrivateKey(), authSecret: secret)
    }
}

/// The `aes128gcm` content encoding of a Web Push message (RFC 8188 records,
/// keys derived as RFC 8291 section 3.4 says). Web Push sends one record.
package enum WebPushMessage {
    /// salt (16) + rs (4) + idlen (1).
    static let headerSize = 21
    /// The sender's public key is the key id: an uncompressed P-256 point.
    static let keyIdSize = 65
    /// The AES-GCM tag at the end of a record.
    static let tagSize = 16

    /// The plaintext of an `aes128gcm` body sent to `keys`' subscription.
    /// Every way a body can be wrong is a ``WebPushError`` (400), never a trap.
    package static func decrypt(_ body: [UInt8], with keys: WebPushReceiverKeys) throws(WebPushError) -> [UInt8] {
        guard body.count >= headerSize else {
            throw WebPushError(
                .malformedBody, "the body (\(body.count) bytes) is shorter than the 21-byte aes128gcm header (RFC 8188 section 2.1)")
        }
        let salt = Array(body[0..<16])
        let recordSize = body[16..<20].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let keyIdLength = Int(body[20])
        guard recordSize >= 18 else {
            throw WebPushError(.malformedBody, "record size \(recordSize) is below the minimum of 18 (RFC 8188 section 2.1)")
        }
        guard keyIdLength == keyIdSize else {
            throw WebPushError(
                .malformedBody,
                "the key id is \(keyIdLength) bytes; Web Push puts the sender's 65-byte public key there (RFC 8291 section 4)")
        }
        let recordsStart = headerSize + keyIdSize
        guard body.count >= recordsStart + tagSize + 1 else {
            throw WebPushError(.malformedBody, "the body (\(body.count) bytes) ends before its first record does")
        }
        let records = body[recordsStart...]
        guard UInt64(records.count) <= UInt64(recordSize) else {
            throw WebPushError(
                .malformedBody,
                "the body holds \(records.count) bytes of records, more than its record size of \(recordSize): Web Push sends one record (RFC 8291 section 4)"
            )
        }
        let senderKey = Array(body[headerSize..<recordsStart])
        guard let sender = try? P256.KeyAgreement.PublicKey(x963Representation: senderKey) else {
            throw WebPushError(.malformedBody, "the key id is not a P-256 public key (a point on the curve, uncompressed)")
        }
        guard let shared = try? keys.privateKey.sharedSecretFromKeyAgreement(with: sender) else {
            throw WebPushError(.undecryptable, "no shared secret with the sender's key")
        }
        let derived = derive(
            sharedSecret: shared.withUnsafeBytes { Array($0) }, authSecret: keys.authSecret, receiverKey: keys.publicKey,
            senderKey: senderKey, salt: salt)
        let plaintext: [UInt8]
        do {
            let box = try AES.GCM.SealedBox(
                nonce: AES.GCM.Nonce(data: derived.nonce), ciphertext: records.dropLast(tagSize), tag: records.suffix(tagSize))
            plaintext = Array(try AES.GCM.open(box, using: derived.key))
        } catch {
            throw WebPushError(
                .undecryptable,
                "the payload does not decrypt with this subscription's keys (encrypted for another subscription's p256dh/auth, or altered)")
        }
        // The last record: data, the delimiter 2, then zeros (RFC 8188 section 2).
        guard let end = plaintext.lastIndex(where: { $0 != 0 }), plaintext[end] == 2 else {
            throw WebPushError(.badPadding, "the record's padding does not end with the last-record delimiter 0x02 (RFC 8188 section 2)")
        }
        return Array(plaintext[..<end])
    }

    /// An `aes128gcm` body carrying `plaintext` to the subscription whose
    /// `p256dh` is `receiverKey` and `auth` is `authSecret`: what an
    /// application server sends (the tests and the benchmark use it).
    package static func encrypt(
        _ plaintext: [UInt8], receiverKey: [UInt8], authSecret: [UInt8],
        senderKey: P256.KeyAgreement.PrivateKey = P256.KeyAgreement.PrivateKey(),
        salt: [UInt8]? = nil, recordSize: UInt32 = 4096, padding: Int = 0
    ) throws(WebPushError) -> [UInt8] {
        guard let receiver = try? P256.KeyAgreement.PublicKey(x963Representation: receiverKey) else {
            throw WebPushError(.malformedBody, "p256dh is not a P-256 public key")
        }
        guard let shared = try? senderKey.sharedSecretFromKeyAgreement(with: receiver) else {
            throw WebPushError(.undecryptable, "no shared secret with the receiver's key")
        }
        let salt = salt ?? WebPushReceiverKeys.generate().authSecret
        let senderPublic = Array(senderKey.publicKey.x963Representation)
        let derived = derive(
            sharedSecret: shared.withUnsafeBytes { Array($0) }, authSecret: authSecret, receiverKey: receiverKey,
            senderKey: senderPublic, salt: salt)
        let padded = plaintext + [2] + [UInt8](repeating: 0, count: max(0, padding))
        guard UInt64(padded.count + tagSize) <= UInt64(recordSize) else {
            throw WebPushError(.malformedBody, "the payload does not fit in one record of \(recordSize) bytes")
        }
        guard let box = try? AES.GCM.seal(padded, using: derived.key, nonce: AES.GCM.Nonce(data: derived.nonce)) else {
            throw WebPushError(.malformedBody, "the payload could not be encrypted")
        }
        let size = [
            UInt8(recordSize >> 24 & 0xFF), UInt8(recordSize >> 16 & 0xFF), UInt8(recordSize >> 8 & 0xFF), UInt8(recordSize & 0xFF),
        ]
        return salt + size + [UInt8(keyIdSize)] + senderPublic + Array(box.ciphertext) + Array(box.tag)
    }

    /// The content encryption key and nonce (RFC 8291 section 3.4, RFC 8188 section 2.2 and 2.3).
    package static func derive(
        sharedSecret: [UInt8], authSecret: [UInt8], receiverKey: [UInt8], senderKey: [UInt8], salt: [UInt8]
    ) -> (key: SymmetricKey, nonce: [UInt8]) {
        let prkKey = HMAC<SHA256>.authenticationCode(for: sharedSecret, using: SymmetricKey(data: authSecret))
        let keyInfo = Array("WebPush: info".utf8) + [0] + receiverKey + senderKey + [1]
        let ikm = HMAC<SHA256>.authenticationCode(for: keyInfo, using: SymmetricKey(data: prkKey))
        let prk = SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Array(ikm), using: SymmetricKey(data: salt)))
        let key = HMAC<SHA256>.authenticationCode(for: Array("Content-Encoding: aes128gcm".utf8) + [0, 1], using: prk)
        let nonce = HMAC<SHA256>.authenticationCode(for: Array("Content-Encoding: nonce".utf8) + [0, 1], using: prk)
        return (SymmetricKey(data: Array(key).prefix(16)), Array(Array(nonce).prefix(12)))
    }
}
