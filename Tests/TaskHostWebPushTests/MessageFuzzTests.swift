import Crypto
import TaskHostTestSupport
import TaskHostWebPush
import Testing

/// Hostile `aes128gcm` bodies against the decoder, from a seeded generator
/// (a failure replays from its seed): truncated records, bad padding, wrong
/// and huge record sizes, key ids that are not points on the curve, flipped
/// bits, random bytes. Each is a ``WebPushError`` with status 400, never a trap.
@Suite struct MessageFuzzTests {
    let keys = WebPushReceiverKeys.generate()

    func expectRefused(_ body: [UInt8], _ what: String) {
        do {
            _ = try WebPushMessage.decrypt(body, with: keys)
            Issue.record("\(what): decrypted")
        } catch {
            #expect(error.status == 400, "\(what): \(error)")
        }
    }

    @Test func hostileBodiesAreRefusedWith400() throws {
        var generator = SeededGenerator(seed: 0x8291)
        let valid = try WebPushMessage.encrypt(Array("fuzz me".utf8), receiverKey: keys.publicKey, authSecret: keys.authSecret, padding: 5)
        for iteration in 0..<400 {
            var body = valid
            let what: String
            switch iteration % 6 {
            case 0:
                what = "truncated"
                body = Array(body.prefix(Int.random(in: 0..<valid.count, using: &generator)))
            case 1:
                what = "record size too small"
                let size = UInt32.random(in: 0..<UInt32(valid.count - 86), using: &generator)
                body.replaceSubrange(
                    16..<20, with: [UInt8(size >> 24), UInt8(size >> 16 & 0xFF), UInt8(size >> 8 & 0xFF), UInt8(size & 0xFF)])
            case 2:
                what = "key id not on the curve"
                body.replaceSubrange(22..<86, with: (0..<64).map { _ in UInt8.random(in: 0...255, using: &generator) })
            case 3:
                what = "key id length"
                body[20] = UInt8.random(in: 0...255, using: &generator)
                if body[20] == 65 { body[20] = 0 }
            case 4:
                what = "flipped bit"
                let index = Int.random(in: 86..<body.count, using: &generator)
                body[index] ^= UInt8(1) << UInt8.random(in: 0...7, using: &generator)
            default:
                what = "random bytes"
                body = (0..<Int.random(in: 0...300, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            }
            expectRefused(body, "iteration \(iteration) (\(what))")
        }
        #expect(try WebPushMessage.decrypt(valid, with: keys) == Array("fuzz me".utf8))
    }

    @Test func aHugeRecordSizeStillTakesOneRecord() throws {
        var body = try WebPushMessage.encrypt(Array("big rs".utf8), receiverKey: keys.publicKey, authSecret: keys.authSecret)
        body.replaceSubrange(16..<20, with: [0xFF, 0xFF, 0xFF, 0xFF])
        #expect(try WebPushMessage.decrypt(body, with: keys) == Array("big rs".utf8))
    }

    @Test func paddingOfZerosWithoutDelimiterIsRefused() throws {
        // A record of zeros only: no delimiter at all.
        let sender = P256.KeyAgreement.PrivateKey()
        let senderPublic = Array(sender.publicKey.x963Representation)
        let shared = try sender.sharedSecretFromKeyAgreement(with: P256.KeyAgreement.PublicKey(x963Representation: keys.publicKey))
        let salt = [UInt8](repeating: 7, count: 16)
        let derived = WebPushMessage.derive(
            sharedSecret: shared.withUnsafeBytes { Array($0) }, authSecret: keys.authSecret, receiverKey: keys.publicKey,
            senderKey: senderPublic, salt: salt)
        let box = try AES.GCM.seal([UInt8](repeating: 0, count: 8), using: derived.key, nonce: AES.GCM.Nonce(data: derived.nonce))
        expectRefused(salt + [0, 0, 16, 0, 65] + senderPublic + Array(box.ciphertext) + Array(box.tag), "zeros only")
    }
}
