import Foundation
import TaskHostCore
import TaskHostShared
import TaskHostStore
import TaskHostTestSupport
import Testing

@testable import TaskHostStorePostgres

/// Settings on PostgreSQL at the SDK's size limits (scoping and value types: the conformance tests, TaskHostStoreTests).
@Suite(
    .enabled("needs PostgreSQL (skipped when absent outside CI; the line above the results says why)") { await PostgresServer.testsRun() })
struct PostgresSettingsTests {
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
