import Testing
@testable import TaskHostIPC
@Test func stub() { #expect(1 == 1) }
