import Foundation
import TaskHostWebPush
import Testing

/// base64url as Web Push uses it, checked against Foundation's base64.
@Suite struct Base64URLTests {
    static func foundation(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    @Test func everyLengthRoundTripsAndMatchesFoundation() {
        var generator = SystemRandomNumberGenerator()
        for length in 0..<100 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let encoded = Base64URL.encode(bytes)
            #expect(encoded == Self.foundation(bytes))
            #expect(Base64URL.decode(encoded) == bytes)
        }
    }

    @Test func paddingAndTheStandardAlphabetAreAccepted() {
        let bytes: [UInt8] = [0xFB, 0xFF, 0xBF, 0x01]
        #expect(Base64URL.decode("-_-_AQ") == bytes)
        #expect(Base64URL.decode("+/+/AQ==") == bytes)
    }

    @Test func whatIsNotBase64IsRefused() {
        #expect(Base64URL.decode("abc!") == nil)
        #expect(Base64URL.decode("abcde") == nil, "a length of 4n+1 symbols cannot be base64")
        #expect(Base64URL.decode("ab cd") == nil)
        #expect(Base64URL.decode("é") == nil)
    }
}
