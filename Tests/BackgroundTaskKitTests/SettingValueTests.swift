import BackgroundTaskKit
import Foundation
import Testing

/// The typed values of local settings, their encoding, and Windows' limits.
@Suite struct SettingValueTests {
    static let samples: [SettingValue] = [
        "", "héllo 😀", .int(Int64.min), .int(42), .uint(UInt64.max), .double(-0.5), .double(.infinity), true, false,
        .date(Date(timeIntervalSince1970: 1_700_000_000.25)), .uuid(UUID(uuidString: "E621E1F8-C36C-495A-93FC-0C247A3E6E5F")!),
        .bytes([]), .bytes([0, 1, 254, 255]), .composite([:]), .composite(["name": "x", "count": 3, "ok": true]),
    ]

    @Test(arguments: samples)
    func everyValueRoundTrips(_ value: SettingValue) throws {
        #expect(try SettingValue(encoded: value.encoded()) == value)
    }

    @Test func literalsMakeTheExpectedTypes() {
        let values: [SettingValue] = ["text", 7, 1.5, true]
        #expect(values == [.string("text"), .int(7), .double(1.5), .bool(true)])
        #expect(SettingValue.string("x").stringValue == "x")
        #expect(SettingValue.int(1).stringValue == nil)
    }

    @Test func descriptionsAreWhatTheCLIPrints() {
        #expect(SettingValue.string("hello").description == "hello")
        #expect(SettingValue.bytes([0, 1, 255]).description == "AAH/")
        #expect(SettingValue.date(Date(timeIntervalSince1970: 0)).description == "1970-01-01T00:00:00Z")
        #expect(SettingValue.composite(["b": 2, "a": "x"]).description == "{a: x, b: 2}")
        #expect(SettingValue.composite(["a": 1]).typeName == "composite")
    }

    @Test func namesUpTo255CharactersAreAccepted() throws {
        try SettingValue.validate(name: String(repeating: "é", count: 255))
        #expect(throws: SettingsError.nameTooLong(name: String(repeating: "n", count: 256), length: 256)) {
            try SettingValue.validate(name: String(repeating: "n", count: 256))
        }
        #expect(throws: SettingsError.emptyName) { try SettingValue.validate(name: "") }
    }

    @Test func simpleValuesUpTo8KBAreAccepted() throws {
        try SettingValue.string(String(repeating: "a", count: 8192)).validate(name: "k")
        try SettingValue.bytes(Array(repeating: 1, count: 8192)).validate(name: "k")
        #expect(throws: SettingsError.valueTooLarge(name: "k", size: 8193)) {
            try SettingValue.string(String(repeating: "a", count: 8193)).validate(name: "k")
        }
        // Limits count UTF-8 bytes, not characters.
        #expect(throws: SettingsError.valueTooLarge(name: "k", size: 8194)) {
            try SettingValue.string(String(repeating: "é", count: 4097)).validate(name: "k")
        }
    }

    @Test func compositesUpTo64KBAreAccepted() throws {
        let member = SettingValue.bytes(Array(repeating: 7, count: 8000))
        let fits = SettingValue.composite(Dictionary(uniqueKeysWithValues: (0..<8).map { ("m\($0)", member) }))
        try fits.validate(name: "c")
        let tooBig = SettingValue.composite(Dictionary(uniqueKeysWithValues: (0..<9).map { ("m\($0)", member) }))
        #expect(throws: SettingsError.compositeTooLarge(name: "c", size: tooBig.encoded().count)) { try tooBig.validate(name: "c") }
        #expect(throws: SettingsError.valueTooLarge(name: "c.big", size: 8193)) {
            try SettingValue.composite(["big": .bytes(Array(repeating: 0, count: 8193))]).validate(name: "c")
        }
        #expect(throws: SettingsError.nestedComposite(name: "c")) {
            try SettingValue.composite(["inner": .composite([:])]).validate(name: "c")
        }
    }

    @Test(
        arguments: [
            ([], "setting value is malformed: no bytes"),
            ([99], "setting value is malformed: unknown type tag 99"),
            ([2, 1, 2, 3], "setting value is malformed: a int value has 8 bytes, found 3"),
            ([5, 2], "setting value is malformed: a bool value is 2"),
            ([1, 0xFF], "setting value is malformed: a string value is not valid UTF-8"),
            ([7, 1], "setting value is malformed: a uuid value has 16 bytes, found 1"),
            ([9, 1, 0, 0, 0, 5, 0, 0, 0], "setting value is malformed: composite value is truncated"),
            ([9, 0, 0, 0, 0, 1], "setting value is malformed: composite value has trailing bytes"),
            ([9, 255, 255, 255, 255], "setting value is malformed: composite claims 4294967295 members"),
        ] as [([UInt8], String)])
    func malformedEncodingsAreErrorsNotCrashes(_ bytes: [UInt8], _ message: String) {
        do {
            let value = try SettingValue(encoded: bytes)
            Issue.record("decoded \(value) from malformed bytes")
        } catch {
            #expect(error.description == message)
        }
    }

    @Test func nestedCompositesAreRefusedWhenDecoding() {
        let inner = SettingValue.composite([:]).encoded()
        let name = Array("x".utf8)
        var bytes: [UInt8] = [9, 1, 0, 0, 0, UInt8(name.count), 0, 0, 0] + name
        bytes += [UInt8(inner.count), 0, 0, 0] + inner
        #expect(throws: SettingsError.nestedComposite(name: "x")) { try SettingValue(encoded: bytes) }
    }
}
