/// Little-endian encoding of the fields inside an IPC frame.
package struct ByteWriter: Sendable {
    /// The bytes written so far.
    package private(set) var bytes: [UInt8] = []

    /// Creates an empty writer.
    package init() {}

    /// Appends one byte.
    package mutating func u8(_ value: UInt8) { bytes.append(value) }

    /// Appends a 32-bit integer.
    package mutating func u32(_ value: UInt32) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// Appends a 64-bit integer.
    package mutating func u64(_ value: UInt64) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// Appends a length-prefixed run of bytes.
    package mutating func data<C: Collection<UInt8>>(_ value: C) {
        u32(UInt32(value.count))
        bytes.append(contentsOf: value)
    }

    /// Appends a length-prefixed UTF-8 string.
    package mutating func string(_ value: String) {
        var value = value
        value.withUTF8 { data($0) }
    }

    /// Appends a count, then each name/value pair, sorted by name.
    package mutating func pairs(_ value: [String: String]) {
        u32(UInt32(value.count))
        for (name, text) in value.sorted(by: { $0.key < $1.key }) {
            string(name)
            string(text)
        }
    }
}

/// Reads the fields written by ``ByteWriter``; every read checks its bounds.
package struct ByteReader {
    private let bytes: [UInt8]
    private var offset = 0

    /// Reads `bytes` from the start.
    package init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// Whether every byte was read.
    package var isAtEnd: Bool { offset == bytes.count }

    private mutating func take(_ count: Int, _ field: String) throws(IPCError) -> ArraySlice<UInt8> {
        guard count >= 0, bytes.count - offset >= count else { throw .truncated(field) }
        defer { offset += count }
        return bytes[offset..<offset + count]
    }

    /// Reads one byte.
    package mutating func u8(_ field: String) throws(IPCError) -> UInt8 {
        try take(1, field).first!
    }

    /// Reads a 32-bit integer.
    package mutating func u32(_ field: String) throws(IPCError) -> UInt32 {
        var value: UInt32 = 0
        for (shift, byte) in try take(4, field).enumerated() { value |= UInt32(byte) << (8 * UInt32(shift)) }
        return value
    }

    /// Reads a 64-bit integer.
    package mutating func u64(_ field: String) throws(IPCError) -> UInt64 {
        var value: UInt64 = 0
        for (shift, byte) in try take(8, field).enumerated() { value |= UInt64(byte) << (8 * UInt64(shift)) }
        return value
    }

    /// Reads a length-prefixed run of bytes.
    package mutating func data(_ field: String) throws(IPCError) -> [UInt8] {
        let count = Int(try u32(field))
        return Array(try take(count, field))
    }

    /// Reads a length-prefixed string, which must be valid UTF-8.
    package mutating func string(_ field: String) throws(IPCError) -> String {
        let raw = try data(field)
        guard let text = String(validating: raw, as: UTF8.self) else { throw .invalidUTF8(field) }
        return text
    }

    /// Reads pairs written by ``ByteWriter/pairs(_:)``.
    package mutating func pairs(_ field: String) throws(IPCError) -> [String: String] {
        let count = Int(try u32(field))
        guard count <= bytes.count - offset else { throw .truncated(field) }
        var result: [String: String] = [:]
        for _ in 0..<count {
            let name = try string(field)
            result[name] = try string(field)
        }
        return result
    }

    /// Throws unless every byte was read. `message` is only built for the
    /// error: describing a value costs a runtime conformance lookup, which a
    /// freshly forked worker would pay on its way to `run`.
    package func finish(_ message: @autoclosure () -> String) throws(IPCError) {
        guard isAtEnd else { throw .trailingBytes(message(), bytes.count - offset) }
    }
}
