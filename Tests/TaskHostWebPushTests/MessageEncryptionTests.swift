import Crypto
import TaskHostWebPush
import Testing

/// RFC 8291's `aes128gcm` messages: the appendix A example, and round trips.
@Suite struct MessageEncryptionTests {
    /// RFC 8291 appendix A.
    enum AppendixA {
        static let receiverPrivate = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"
        static let receiverPublic = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
        static let senderPrivate = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"
        static let authSecret = "BTBZMqHH6r4Tts7J_aSIgg"
        static let salt = "DGv6ra1nlYgDCS1FRnbzlw"
        static let plaintext = "When I grow up, I want to be a watermelon"
        static let body =
            "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_"
            + "yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"

        static func keys() throws -> WebPushReceiverKeys {
            try WebPushReceiverKeys(privateKey: Base64URL.decode(receiverPrivate)!, authSecret: Base64URL.decode(authSecret)!)
        }
    }

    @Test func appendixAExampleDecryptsByteForByte() throws {
        let keys = try AppendixA.keys()
        #expect(Base64URL.encode(keys.publicKey) == AppendixA.receiverPublic)
        let plaintext = try WebPushMessage.decrypt(Base64URL.decode(AppendixA.body)!, with: keys)
        #expect(plaintext == Array(AppendixA.plaintext.utf8))
    }

    @Test func appendixAExampleEncryptsByteForByte() throws {
        let keys = try AppendixA.keys()
        let sender = try P256.KeyAgreement.PrivateKey(rawRepresentation: Base64URL.decode(AppendixA.senderPrivate)!)
        let body = try WebPushMessage.encrypt(
            Array(AppendixA.plaintext.utf8), receiverKey: keys.publicKey, authSecret: keys.authSecret, senderKey: sender,
            salt: Base64URL.decode(AppendixA.salt)!, recordSize: 4096)
        #expect(Base64URL.encode(body) == AppendixA.body)
    }

    @Test(arguments: [0, 1, 100, 3993])
    func roundTripsWithGeneratedKeys(size: Int) throws {
        let keys = WebPushReceiverKeys.generate()
        let plaintext = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let body = try WebPushMessage.encrypt(plaintext, receiverKey: keys.publicKey, authSecret: keys.authSecret, padding: size % 7)
        #expect(try WebPushMessage.decrypt(body, with: keys) == plaintext)
    }

    @Test func anotherSubscriptionsKeysDoNotDecrypt() throws {
        let keys = WebPushReceiverKeys.generate()
        let body = try WebPushMessage.encrypt(Array("secret".utf8), receiverKey: keys.publicKey, authSecret: keys.authSecret)
        let other = WebPushReceiverKeys.generate()
        #expect(throws: WebPushError.self) { try WebPushMessage.decrypt(body, with: other) }
        let otherAuth = WebPushReceiverKeys(privateKey: keys.privateKey, authSecret: other.authSecret)
        do {
            _ = try WebPushMessage.decrypt(body, with: otherAuth)
            Issue.record("decrypted with the wrong auth secret")
        } catch {
            #expect(error.code == .undecryptable)
            #expect(error.status == 400)
        }
    }

    @Test func aRecordWithoutTheLastRecordDelimiterIsBadPadding() throws {
        let keys = WebPushReceiverKeys.generate()
        // A sender that used delimiter 1 (a non-last record) for its only record.
        let salt = WebPushReceiverKeys.generate().authSecret
        let sender = P256.KeyAgreement.PrivateKey()
        let shared = try sender.sharedSecretFromKeyAgreement(with: P256.KeyAgreement.PublicKey(x963Representation: keys.publicKey))
        let senderPublic = Array(sender.publicKey.x963Representation)
        let derived = WebPushMessage.derive(
            sharedSecret: shared.withUnsafeBytes { Array($0) }, authSecret: keys.authSecret, receiverKey: keys.publicKey,
            senderKey: senderPublic, salt: salt)
        let box = try AES.GCM.seal(Array("hi".utf8) + [1, 0, 0], using: derived.key, nonce: AES.GCM.Nonce(data: derived.nonce))
        let body = salt + [0, 0, 16, 0, 65] + senderPublic + Array(box.ciphertext) + Array(box.tag)
        #expect(
            throws: WebPushError(.badPadding, "the record's padding does not end with the last-record delimiter 0x02 (RFC 8188 section 2)")
        ) {
            try WebPushMessage.decrypt(body, with: keys)
        }
    }
}
