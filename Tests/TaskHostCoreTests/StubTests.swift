import Testing
@testable import TaskHostCore
@Test func stub() { #expect(1 == 1) }
