import Testing
@testable import BackgroundTaskKit
@Test func stub() { #expect(1 == 1) }
