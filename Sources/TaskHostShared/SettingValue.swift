#if canImport(FoundationEssentials)
public import FoundationEssentials  // not Foundation: see "A worker without Foundation" in the README
import Glibc
#else
public import Foundation
#endif

/// A value stored in `ApplicationDataContainer.values` (BackgroundTaskKit): the typed values
/// Windows' `ApplicationData.LocalSettings` accepts.
///
/// Literals work where a value is expected:
/// `settings.values["count"] = 3`, `settings.values["name"] = "hello"`.
public enum SettingValue: Sendable, Hashable {
    /// Text.
    case string(String)
    /// A signed integer.
    case int(Int64)
    /// An unsigned integer.
    case uint(UInt64)
    /// A floating-point number.
    case double(Double)
    /// A Boolean.
    case bool(Bool)
    /// A point in time (Windows' `DateTime`).
    case date(Date)
    /// A UUID (Windows' `Guid`).
    case uuid(UUID)
    /// Raw bytes.
    case bytes([UInt8])
    /// Named simple values stored and read as one (Windows'
    /// `ApplicationDataCompositeValue`). A composite cannot contain a composite.
    case composite([String: SettingValue])

    /// The type's name as the CLI prints and parses it.
    public var typeName: String {
        switch self {
        case .string: "string"
        case .int: "int"
        case .uint: "uint"
        case .double: "double"
        case .bool: "bool"
        case .date: "date"
        case .uuid: "uuid"
        case .bytes: "bytes"
        case .composite: "composite"
        }
    }

    /// The value as a `String`, if it is one.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }
}

extension SettingValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByBooleanLiteral
{
    /// Creates a ``string(_:)`` value.
    public init(stringLiteral value: String) { self = .string(value) }
    /// Creates an ``int(_:)`` value.
    public init(integerLiteral value: Int64) { self = .int(value) }
    /// Creates a ``double(_:)`` value.
    public init(floatLiteral value: Double) { self = .double(value) }
    /// Creates a ``bool(_:)`` value.
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

extension SettingValue: CustomStringConvertible {
    /// The value as `taskhost settings get` prints it: strings as they are,
    /// dates in ISO 8601, bytes in base64, composites as `{name: value, …}`.
    public var description: String {
        switch self {
        case .string(let value): value
        case .int(let value): String(value)
        case .uint(let value): String(value)
        case .double(let value): String(value)
        case .bool(let value): String(value)
        case .date(let value): value.formatted(.iso8601)
        case .uuid(let value): value.uuidString
        case .bytes(let value): Data(value).base64EncodedString()
        case .composite(let values):
            "{" + values.keys.sorted().map { "\($0): \(values[$0]!)" }.joined(separator: ", ") + "}"
        }
    }
}

// MARK: - Limits

/// The limits Windows puts on local settings, enforced by the SDK before a
/// write leaves the plugin and again by the host before it is stored.
public enum SettingLimits {
    /// The longest setting name, in characters.
    public static let maxNameLength = 255
    /// The largest simple value, in bytes (UTF-8 bytes for strings).
    public static let maxValueSize = 8 * 1024
    /// The largest composite value, in bytes of its encoding.
    public static let maxCompositeSize = 64 * 1024
}

/// Why a setting was refused or could not be read. Each description says what
/// was wrong and what the limit is.
public enum SettingsError: Error, Equatable, CustomStringConvertible {
    /// The name is empty.
    case emptyName
    /// The name is longer than ``SettingLimits/maxNameLength`` characters.
    case nameTooLong(name: String, length: Int)
    /// A simple value is larger than ``SettingLimits/maxValueSize``.
    case valueTooLarge(name: String, size: Int)
    /// A composite is larger than ``SettingLimits/maxCompositeSize``.
    case compositeTooLarge(name: String, size: Int)
    /// A composite contains a composite.
    case nestedComposite(name: String)
    /// The stored bytes are not a value this SDK can decode.
    case malformedValue(String)
    /// The host refused the operation; the message says why.
    case rejected(String)
    /// The host is gone; the instance is about to be stopped.
    case hostUnavailable

    /// The message, as the plugin's log shows it.
    public var description: String {
        switch self {
        case .emptyName:
            "setting name is empty"
        case .nameTooLong(let name, let length):
            "setting name \"\(name.prefix(40))…\" is \(length) characters; the limit is \(SettingLimits.maxNameLength)"
        case .valueTooLarge(let name, let size):
            "setting \"\(name)\": value is \(size) bytes; the limit is \(SettingLimits.maxValueSize) bytes (store larger data in a file, or split it)"
        case .compositeTooLarge(let name, let size):
            "setting \"\(name)\": composite value is \(size) bytes; the limit is \(SettingLimits.maxCompositeSize) bytes"
        case .nestedComposite(let name):
            "setting \"\(name)\": a composite value cannot contain another composite"
        case .malformedValue(let why):
            "setting value is malformed: \(why)"
        case .rejected(let why):
            "the host refused the setting: \(why)"
        case .hostUnavailable:
            "the host is unavailable; the instance is being stopped"
        }
    }
}

extension SettingValue {
    /// Checks `name` against Windows' limits.
    package static func validate(name: String) throws(SettingsError) {
        if name.isEmpty { throw .emptyName }
        let length = name.count
        if length > SettingLimits.maxNameLength { throw .nameTooLong(name: name, length: length) }
    }

    /// Checks this value, stored under `name`, against Windows' limits.
    package func validate(name: String) throws(SettingsError) {
        switch self {
        case .composite(let values):
            for (member, value) in values {
                try Self.validate(name: member)
                if case .composite = value { throw .nestedComposite(name: name) }
                try value.validate(name: "\(name).\(member)")
            }
            let size = encoded().count
            if size > SettingLimits.maxCompositeSize { throw .compositeTooLarge(name: name, size: size) }
        default:
            let size = payloadSize
            if size > SettingLimits.maxValueSize { throw .valueTooLarge(name: name, size: size) }
        }
    }

    /// The size of a simple value as the limits count it.
    var payloadSize: Int {
        switch self {
        case .string(let value): value.utf8.count
        case .bytes(let value): value.count
        case .int, .uint, .double, .date: 8
        case .bool: 1
        case .uuid: 16
        case .composite: encoded().count
        }
    }
}

// MARK: - Encoding

/// The binary encoding of setting values: what crosses the plugin boundary and
/// what the host stores. A tag byte, then the payload, little-endian:
///
/// | tag | type | payload |
/// |-----|------|---------|
/// | 1 | string | UTF-8 bytes |
/// | 2 | int | 8 bytes |
/// | 3 | uint | 8 bytes |
/// | 4 | double | 8 bytes (IEEE 754 bits) |
/// | 5 | bool | 1 byte, 0 or 1 |
/// | 6 | date | 8 bytes: seconds since 1970 as a double |
/// | 7 | uuid | 16 bytes |
/// | 8 | bytes | the bytes |
/// | 9 | composite | count (4 bytes), then per member: name length (4), name, value length (4), value encoding |
extension SettingValue {
    private enum Tag: UInt8 {
        case string = 1
        case int, uint, double, bool, date, uuid, bytes, composite
    }

    /// The value's encoding.
    package func encoded() -> [UInt8] {
        var out: [UInt8] = []
        encode(into: &out)
        return out
    }

    private func encode(into out: inout [UInt8]) {
        switch self {
        case .string(let value):
            out.append(Tag.string.rawValue)
            out.append(contentsOf: value.utf8)
        case .int(let value):
            out.append(Tag.int.rawValue)
            Self.append(UInt64(bitPattern: value), to: &out)
        case .uint(let value):
            out.append(Tag.uint.rawValue)
            Self.append(value, to: &out)
        case .double(let value):
            out.append(Tag.double.rawValue)
            Self.append(value.bitPattern, to: &out)
        case .bool(let value):
            out.append(Tag.bool.rawValue)
            out.append(value ? 1 : 0)
        case .date(let value):
            out.append(Tag.date.rawValue)
            Self.append(value.timeIntervalSince1970.bitPattern, to: &out)
        case .uuid(let value):
            out.append(Tag.uuid.rawValue)
            withUnsafeBytes(of: value.uuid) { out.append(contentsOf: $0) }
        case .bytes(let value):
            out.append(Tag.bytes.rawValue)
            out.append(contentsOf: value)
        case .composite(let values):
            out.append(Tag.composite.rawValue)
            Self.append(UInt32(values.count), to: &out)
            for name in values.keys.sorted() {
                let nameBytes = Array(name.utf8)
                Self.append(UInt32(nameBytes.count), to: &out)
                out.append(contentsOf: nameBytes)
                let member = values[name]!.encoded()
                Self.append(UInt32(member.count), to: &out)
                out.append(contentsOf: member)
            }
        }
    }

    private static func append<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    /// Decodes a value from its encoding.
    package init<Bytes: Collection<UInt8>>(encoded bytes: Bytes) throws(SettingsError) {
        let bytes = Array(bytes)
        guard let first = bytes.first else { throw .malformedValue("no bytes") }
        guard let tag = Tag(rawValue: first) else { throw .malformedValue("unknown type tag \(first)") }
        let payload = bytes[1...]
        func fixed(_ count: Int) throws(SettingsError) -> UInt64 {
            guard payload.count == count else {
                throw .malformedValue("a \(tag) value has \(count) bytes, found \(payload.count)")
            }
            var value: UInt64 = 0
            for (shift, byte) in payload.enumerated() { value |= UInt64(byte) << (8 * UInt64(shift)) }
            return value
        }
        switch tag {
        case .string:
            guard let text = String(validating: payload, as: UTF8.self) else {
                throw .malformedValue("a string value is not valid UTF-8")
            }
            self = .string(text)
        case .int: self = .int(Int64(bitPattern: try fixed(8)))
        case .uint: self = .uint(try fixed(8))
        case .double: self = .double(Double(bitPattern: try fixed(8)))
        case .bool:
            let raw = try fixed(1)
            guard raw <= 1 else { throw .malformedValue("a bool value is \(raw)") }
            self = .bool(raw == 1)
        case .date: self = .date(Date(timeIntervalSince1970: Double(bitPattern: try fixed(8))))
        case .uuid:
            guard payload.count == 16 else { throw .malformedValue("a uuid value has 16 bytes, found \(payload.count)") }
            let b = Array(payload)
            self = .uuid(
                UUID(
                    uuid: (
                        b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
                        b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]
                    )))
        case .bytes: self = .bytes(Array(payload))
        case .composite: self = .composite(try Self.decodeComposite(Array(payload)))
        }
    }

    private static func decodeComposite(_ bytes: [UInt8]) throws(SettingsError) -> [String: SettingValue] {
        var offset = 0
        func u32() throws(SettingsError) -> Int {
            guard bytes.count - offset >= 4 else { throw .malformedValue("composite value is truncated") }
            var value = 0
            for i in 0..<4 { value |= Int(bytes[offset + i]) << (8 * i) }
            offset += 4
            return value
        }
        func take(_ count: Int) throws(SettingsError) -> ArraySlice<UInt8> {
            guard count >= 0, bytes.count - offset >= count else {
                throw .malformedValue("composite value is truncated")
            }
            defer { offset += count }
            return bytes[offset..<offset + count]
        }
        let count = try u32()
        guard count <= bytes.count else { throw .malformedValue("composite claims \(count) members") }
        var values: [String: SettingValue] = [:]
        for _ in 0..<count {
            guard let name = String(validating: try take(try u32()), as: UTF8.self) else {
                throw .malformedValue("a composite member name is not valid UTF-8")
            }
            let member = try SettingValue(encoded: try take(try u32()))
            if case .composite = member { throw .nestedComposite(name: name) }
            values[name] = member
        }
        guard offset == bytes.count else { throw .malformedValue("composite value has trailing bytes") }
        return values
    }
}
