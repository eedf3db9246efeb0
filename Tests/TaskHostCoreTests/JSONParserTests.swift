import Testing

@testable import TaskHostCore
@testable import TaskHostManifest
@testable import TaskHostStore

@Suite struct JSONParserTests {
    @Test func parsesEveryKindOfValue() throws {
        let node = try JSONParser.parse(
            Array(#"{"s": "a\"b\\c\n\u00e9\ud83d\ude00", "n": -1.5e2, "t": true, "f": false, "z": null, "a": [1, {}]}"#.utf8))
        guard case .object(let members) = node.value else {
            Issue.record("not an object")
            return
        }
        #expect(members.map(\.key) == ["s", "n", "t", "f", "z", "a"])
        #expect(members[0].node.value == .string("a\"b\\c\né😀"))
        #expect(members[1].node.value == .number(-150))
        #expect(members[2].node.value == .bool(true))
        #expect(members[3].node.value == .bool(false))
        #expect(members[4].node.value == .null)
        #expect(
            members[5].node.value
                == .array([
                    JSONNode(value: .number(1), position: SourcePosition(line: 1, column: 91)),
                    JSONNode(value: .object([]), position: SourcePosition(line: 1, column: 94)),
                ]))
    }

    @Test(arguments: [
        ("01", "unexpected text after the end of the document"),
        ("1.", "invalid number: expected digits after '.'"),
        ("1e", "invalid number: expected digits in the exponent"),
        ("tru", "invalid literal; expected true"),
        ("\"\\x\"", "invalid escape sequence '\\x'"),
        ("\"\\ud800\"", "unpaired surrogate in \\u escape"),
        ("\"a\u{01}\"", "control character in a string (escape it, e.g. \\n)"),
        ("[1 2]", "expected ',' or ']' after an array element"),
        ("{\"a\" 1}", "expected ':' after field name \"a\""),
        ("{1: 2}", "expected a field name in double quotes"),
        ("1e999", "number 1e999 is out of range"),
    ])
    func rejectsMalformedText(_ text: String, _ message: String) {
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(Array(text.utf8)) }
        do {
            _ = try JSONParser.parse(Array(text.utf8))
        } catch {
            #expect(error.message == message)
        }
    }

    @Test func rejectsInvalidUTF8() {
        do {
            _ = try JSONParser.parse([UInt8(ascii: "\""), 0xFF, UInt8(ascii: "\"")])
            Issue.record("accepted invalid UTF-8")
        } catch {
            #expect(error.message == "string is not valid UTF-8")
        }
    }
}
