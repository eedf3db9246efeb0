import Foundation
import TaskHostCore
import TaskHostShared
import TaskHostStore
import TaskHostTestSupport
import Testing

@testable import TaskHostStorePostgres

/// Settings on PostgreSQL: scoped by app, every value type, the SDK's size limits, shared by hosts.
@Suite(
    .enabled("needs PostgreSQL (skipped when absent outside CI; the line above the results says why)") { await PostgresServer.testsRun() })
struct PostgresSettingsTests {
    @Test func settingsAreScopedByApp() async throws {
        try await withStore { store, _ in
            try store.setSetting(app: "one", key: "k", value: .int(1))
            try store.setSetting(app: "two", key: "k", value: .string("two"))
            try store.setSetting(app: "one", key: "k", value: .int(2))
            #expect(try store.setting(app: "one", key: "k")?.value == .int(2))
            #expect(try store.setting(app: "two", key: "k")?.value == .string("two"))
            #expect(try store.settings(app: "one").map(\.key) == ["k"])
            #expect(try store.apps() == ["one", "two"])
            #expect(try store.deleteSetting(app: "one", key: "k"))
            #expect(try !store.deleteSetting(app: "one", key: "k"))
            #expect(try store.setting(app: "one", key: "k") == nil)
        }
    }

    @Test func everyValueTypeSurvivesTheStoreAndEveryHostSeesIt() async throws {
        try await withStore { store, database in
            let values: [SettingValue] = [
                "text", .int(-5), .uint(UInt64.max), .double(0.25), true, .date(Date(timeIntervalSince1970: 1_700_000_000.5)),
                .uuid(UUID()), .bytes([0, 255]), .composite(["a": 1, "b": "x"]),
            ]
            for (index, value) in values.enumerated() { try store.setSetting(app: "a", key: "k\(index)", value: value) }
            let otherHost = try database.store()
            defer { otherHost.close() }
            #expect(try otherHost.settings(app: "a").map(\.value) == values)
        }
    }

    @Test func valuesAtTheSDKsLimitsRoundTrip() async throws {
        try await withStore { store, _ in
            let longestName = String(repeating: "n", count: SettingLimits.maxNameLength)
            let largestString = SettingValue.string(String(repeating: "é", count: SettingLimits.maxValueSize / 2))
            let largestBytes = SettingValue.bytes((0..<SettingLimits.maxValueSize).map { UInt8($0 % 251) })
            var composite: [String: SettingValue] = [:]
            for index in 0..<7 { composite["part\(index)"] = .bytes(Array(repeating: UInt8(index), count: 8 * 1024)) }
            let largeComposite = SettingValue.composite(composite)
            #expect(largeComposite.encoded().count <= SettingLimits.maxCompositeSize)
            try SettingValue.validate(name: longestName)
            try largestString.validate(name: longestName)
            try largestBytes.validate(name: "bytes")
            try largeComposite.validate(name: "composite")
            try store.setSetting(app: "a", key: longestName, value: largestString)
            try store.setSetting(app: "a", key: "bytes", value: largestBytes)
            try store.setSetting(app: "a", key: "composite", value: largeComposite)
            #expect(try store.setting(app: "a", key: longestName)?.value == largestString)
            #expect(try store.setting(app: "a", key: "bytes")?.value == largestBytes)
            #expect(try store.setting(app: "a", key: "composite")?.value == largeComposite)
        }
    }
}
