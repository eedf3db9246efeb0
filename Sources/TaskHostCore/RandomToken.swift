import Foundation

/// Random tokens from the system's cryptographically secure generator
/// (`getrandom(2)` on Linux).
package enum RandomToken {
    /// `count` random bytes, drawn eight at a time.
    package static func bytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count + 7)
        while bytes.count < count {
            withUnsafeBytes(of: generator.next()) { bytes.append(contentsOf: $0) }
        }
        return Array(bytes.prefix(count))
    }

    /// `count` random bytes as lower-case hex.
    package static func hex(bytes count: Int) -> String {
        String(decoding: hexDigits(bytes(count)), as: UTF8.self)
    }

    /// `bytes` as lower-case hex digits (UTF-8).
    private static func hexDigits(_ bytes: [UInt8]) -> [UInt8] {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return out
    }

    /// A random (version 4) UUID in lower case, for instance and trigger ids.
    ///
    /// Foundation's `UUID()` reads `/dev/urandom` on Linux and, when it cannot
    /// open it (the process is out of descriptors), returns all-zero random
    /// bits: every id made then is `00000000-0000-4000-8000-000000000000`.
    /// `getrandom(2)` needs no descriptor, so these ids never repeat.
    package static func uuid() -> String {
        var bytes = bytes(16)
        bytes[6] = (bytes[6] & 0x0F) | 0x40  // version 4
        bytes[8] = (bytes[8] & 0x3F) | 0x80  // RFC 4122 variant
        let hex = hexDigits(bytes)
        let groups = [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(decoding: hex[$0], as: UTF8.self) }
        return groups.joined(separator: "-")
    }

    /// `count` random bytes as unpadded base64url (URL- and header-safe).
    package static func base64URL(bytes count: Int) -> String {
        base64URL(bytes(count))
    }

    /// `bytes` as unpadded base64url.
    package static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}
