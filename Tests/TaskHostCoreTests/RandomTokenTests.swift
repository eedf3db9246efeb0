import Foundation
import Testing

@testable import TaskHostCore
@testable import TaskHostStore

/// Ids and secrets come from `getrandom(2)`, which needs no descriptor.
@Suite struct RandomTokenTests {
    @Test func instanceIdsAreVersion4UUIDsThatDoNotRepeat() throws {
        let ids = (0..<2000).map { _ in RandomToken.uuid() }
        #expect(Set(ids).count == ids.count)
        for id in ids.prefix(50) {
            let uuid = try #require(UUID(uuidString: id), "\(id) is not a UUID")
            #expect(uuid.uuidString.lowercased() == id, "lower case, as the store keeps ids")
            let bytes = withUnsafeBytes(of: uuid.uuid) { Array($0) }
            #expect(bytes[6] >> 4 == 4, "version 4")
            #expect(bytes[8] >> 6 == 0b10, "RFC 4122 variant")
        }
        #expect(!ids.contains("00000000-0000-4000-8000-000000000000"))
    }

    @Test func hexTokensHaveTheirLength() {
        #expect(RandomToken.hex(bytes: 10).count == 20)
        let token = RandomToken.hex(bytes: 10)
        #expect(token.allSatisfy { $0.isHexDigit })
    }

    /// A channel id is a command-line argument (`taskhost channels revoke ID`):
    /// one starting with `-` would be taken for an option. In 4000 ids about 62
    /// would start with `-` if nothing prevented it.
    @Test func channelIdsAreNeverTakenForOptions() {
        let ids = (0..<4000).map { _ in PushChannel.newId() }
        #expect(ids.allSatisfy { $0.first != "-" })
        #expect(ids.allSatisfy { $0.count == 43 }, "32 bytes of base64url")
        #expect(Set(ids).count == ids.count)
    }
}
