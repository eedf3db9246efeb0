/// Parses JSON text into ``JSONNode``s.
package struct JSONParser {
    private let bytes: [UInt8]
    private var index = 0
    private var line = 1
    private var lineStart = 0
    private var depth = 0
    /// Deeper nesting is refused rather than risking the stack.
    package static let maxDepth = 64

    /// Parses a whole document: one value, then only white space.
    package static func parse(_ bytes: [UInt8]) throws(JSONSyntaxError) -> JSONNode {
        var parser = JSONParser(bytes: bytes)
        parser.skipWhitespace()
        if parser.index < bytes.count - 2, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF {
            parser.index = 3  // UTF-8 byte order mark
        }
        let node = try parser.parseValue()
        parser.skipWhitespace()
        guard parser.index == bytes.count else { throw parser.error("unexpected text after the end of the document") }
        return node
    }

    /// Parses a whole document and goes on after a syntax error in an element
    /// of an array on the document's second level (a manifest's task):
    /// the element is skipped up to the next `,` or `]` and the rest is read,
    /// so that one broken task does not hide the others' errors.
    ///
    /// - Parameter labelKey: a member of such an element whose string value
    ///   names the element in its errors (``JSONSyntaxError/element``).
    /// - Returns: the document without the elements skipped (`nil` when it
    ///   could not be read to its end), and every syntax error in file order.
    package static func parseRecovering(_ bytes: [UInt8], labelKey: String? = nil) -> (node: JSONNode?, errors: [JSONSyntaxError]) {
        var parser = JSONParser(bytes: bytes)
        parser.recovery = Recovery(labelKey: labelKey)
        do throws(JSONSyntaxError) {
            parser.skipWhitespace()
            if parser.index < bytes.count - 2, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF {
                parser.index = 3
            }
            let node = try parser.parseValue()
            parser.skipWhitespace()
            guard parser.index == bytes.count else { throw parser.error("unexpected text after the end of the document") }
            return (node, parser.recovery?.errors ?? [])
        } catch {
            var errors = parser.recovery?.errors ?? []
            if errors.last != error { errors.append(error) }
            return (nil, errors)
        }
    }

    /// What ``parseRecovering(_:labelKey:)`` keeps while it reads.
    private struct Recovery {
        var labelKey: String?
        var errors: [JSONSyntaxError] = []
        /// The label of the element being read.
        var label: String?
    }

    private var recovery: Recovery?

    /// The depth of an array whose elements are recovered from (a member of the root object, such as BackgroundTasks).
    private static let recoveredArrayDepth = 2

    private init(bytes: [UInt8]) { self.bytes = bytes }

    /// Records `error` in the element being read and moves to the next `,` or
    /// `]` of the array, from `start`; rethrows it when there is none.
    private mutating func recover(
        from error: JSONSyntaxError, start: (index: Int, line: Int, lineStart: Int, depth: Int)
    ) throws(JSONSyntaxError) {
        var labeled = error
        labeled.element = recovery?.label
        recovery?.errors.append(labeled)
        (index, line, lineStart, depth) = start
        guard skipElement() else { throw labeled }
    }

    /// Skips one value, however broken, up to the `,` or `]` that follows it
    /// at this level; a string ends at its line's end. Returns whether one was found.
    private mutating func skipElement() -> Bool {
        var nesting = 0
        var inString = false
        while let byte = current {
            if byte == UInt8(ascii: "\n") {
                index += 1
                line += 1
                lineStart = index
                inString = false
                continue
            }
            if inString {
                if byte == UInt8(ascii: "\\") { index += 1 } else if byte == UInt8(ascii: "\"") { inString = false }
                index += 1
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["): nesting += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if nesting == 0 { return byte == UInt8(ascii: "]") }
                nesting -= 1
            case UInt8(ascii: ","):
                if nesting == 0 { return true }
            default: break
            }
            index += 1
        }
        return false
    }

    private var position: SourcePosition {
        // Columns count characters, not bytes: skip UTF-8 continuation bytes.
        let column = bytes[lineStart..<min(index, bytes.count)].reduce(1) { $0 + ($1 & 0xC0 == 0x80 ? 0 : 1) }
        return SourcePosition(line: line, column: column)
    }

    private func error(_ message: String) -> JSONSyntaxError {
        JSONSyntaxError(message: message, position: position)
    }

    private var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipWhitespace() {
        while let byte = current {
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"):
                index += 1
            case UInt8(ascii: "\n"):
                index += 1
                line += 1
                lineStart = index
            default:
                return
            }
        }
    }

    private mutating func parseValue() throws(JSONSyntaxError) -> JSONNode {
        skipWhitespace()
        let start = position
        guard let byte = current else { throw error("unexpected end of file; expected a value") }
        let value: JSONValue
        switch byte {
        case UInt8(ascii: "{"): value = try parseObject()
        case UInt8(ascii: "["): value = try parseArray()
        case UInt8(ascii: "\""): value = .string(try parseString())
        case UInt8(ascii: "t"):
            try expectWord("true")
            value = .bool(true)
        case UInt8(ascii: "f"):
            try expectWord("false")
            value = .bool(false)
        case UInt8(ascii: "n"):
            try expectWord("null")
            value = .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): value = .number(try parseNumber())
        default:
            throw error("unexpected character \(Self.show(byte)); expected a value")
        }
        return JSONNode(value: value, position: start)
    }

    private static func show(_ byte: UInt8) -> String {
        byte >= 0x20 && byte < 0x7F
            ? "'\(Character(UnicodeScalar(byte)))'" : "byte 0x" + String(byte, radix: 16, uppercase: true)
    }

    private mutating func expectWord(_ word: String) throws(JSONSyntaxError) {
        for expected in word.utf8 {
            guard current == expected else { throw error("invalid literal; expected \(word)") }
            index += 1
        }
    }

    private mutating func enter() throws(JSONSyntaxError) {
        depth += 1
        if depth > Self.maxDepth { throw error("nesting deeper than \(Self.maxDepth) levels") }
    }

    private mutating func parseObject() throws(JSONSyntaxError) -> JSONValue {
        try enter()
        defer { depth -= 1 }
        index += 1
        var members: [JSONMember] = []
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            index += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            let keyPosition = position
            guard current == UInt8(ascii: "\"") else {
                throw error(current == nil ? "unexpected end of file inside an object" : "expected a field name in double quotes")
            }
            let key = try parseString()
            if members.contains(where: { $0.key == key }) {
                throw JSONSyntaxError(message: "duplicate field \"\(key)\"", position: keyPosition)
            }
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw error("expected ':' after field name \"\(key)\"") }
            index += 1
            let node = try parseValue()
            members.append(JSONMember(key: key, keyPosition: keyPosition, node: node))
            if depth == Self.recoveredArrayDepth + 1, key == recovery?.labelKey, case .string(let label) = node.value {
                recovery?.label = label
            }
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"):
                index += 1
                return .object(members)
            case nil: throw error("unexpected end of file inside an object; expected ',' or '}'")
            default: throw error("expected ',' or '}' after a field's value")
            }
        }
    }

    private mutating func parseArray() throws(JSONSyntaxError) -> JSONValue {
        try enter()
        defer { depth -= 1 }
        index += 1
        var elements: [JSONNode] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") {
            index += 1
            return .array(elements)
        }
        let recovers = recovery != nil && depth == Self.recoveredArrayDepth
        while true {
            let start = (index: index, line: line, lineStart: lineStart, depth: depth)
            if recovers { recovery?.label = nil }
            do {
                elements.append(try parseValue())
            } catch {
                guard recovers else { throw error }
                try recover(from: error, start: start)
            }
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"):
                index += 1
                return .array(elements)
            case nil: throw error("unexpected end of file inside an array; expected ',' or ']'")
            case UInt8(ascii: "{") where recovers:
                // A missing ',' between two elements: say so, and read the next one.
                let missingComma = error("expected ',' or ']' after an array element")
                recovery?.errors.append(missingComma)
            default:
                guard recovers else { throw error("expected ',' or ']' after an array element") }
                try recover(
                    from: error("expected ',' or ']' after an array element"),
                    start: (index: index, line: line, lineStart: lineStart, depth: depth))
                if current == UInt8(ascii: ",") {
                    index += 1
                } else {
                    index += 1
                    return .array(elements)
                }
            }
        }
    }

    private mutating func parseString() throws(JSONSyntaxError) -> String {
        index += 1
        var scalars = String.UnicodeScalarView()
        var raw: [UInt8] = []
        func flush() throws(JSONSyntaxError) {
            guard !raw.isEmpty else { return }
            guard let text = String(validating: raw, as: UTF8.self) else { throw error("string is not valid UTF-8") }
            scalars.append(contentsOf: text.unicodeScalars)
            raw.removeAll(keepingCapacity: true)
        }
        while true {
            guard let byte = current else { throw error("unexpected end of file inside a string") }
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                try flush()
                return String(scalars)
            case UInt8(ascii: "\\"):
                try flush()
                index += 1
                guard let escaped = current else { throw error("unexpected end of file inside a string") }
                index += 1
                switch escaped {
                case UInt8(ascii: "\""): scalars.append("\"")
                case UInt8(ascii: "\\"): scalars.append("\\")
                case UInt8(ascii: "/"): scalars.append("/")
                case UInt8(ascii: "b"): scalars.append("\u{08}")
                case UInt8(ascii: "f"): scalars.append("\u{0C}")
                case UInt8(ascii: "n"): scalars.append("\n")
                case UInt8(ascii: "r"): scalars.append("\r")
                case UInt8(ascii: "t"): scalars.append("\t")
                case UInt8(ascii: "u"):
                    var code = try parseHex4()
                    if (0xD800..<0xDC00).contains(code) {
                        guard current == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u") else {
                            throw error("unpaired surrogate in \\u escape")
                        }
                        index += 2
                        let low = try parseHex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw error("invalid low surrogate in \\u escape") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let scalar = Unicode.Scalar(code) else { throw error("invalid \\u escape") }
                    scalars.append(scalar)
                default:
                    throw error("invalid escape sequence '\\\(Character(UnicodeScalar(escaped)))'")
                }
            case 0..<0x20:
                throw error("control character in a string (escape it, e.g. \\n)")
            default:
                raw.append(byte)
                index += 1
            }
        }
    }

    private mutating func parseHex4() throws(JSONSyntaxError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = current, let digit = Self.hexDigit(byte) else { throw error("invalid \\u escape; expected 4 hex digits") }
            value = value * 16 + digit
            index += 1
        }
        return value
    }

    private static func hexDigit(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }

    private mutating func parseNumber() throws(JSONSyntaxError) -> Double {
        let start = index
        func digits() -> Int {
            var count = 0
            while let byte = current, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
                index += 1
                count += 1
            }
            return count
        }
        if current == UInt8(ascii: "-") { index += 1 }
        if current == UInt8(ascii: "0") {
            index += 1
        } else if digits() == 0 {
            throw error("invalid number")
        }
        if current == UInt8(ascii: ".") {
            index += 1
            guard digits() > 0 else { throw error("invalid number: expected digits after '.'") }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            index += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
            guard digits() > 0 else { throw error("invalid number: expected digits in the exponent") }
        }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        guard let value = Double(text), value.isFinite else { throw error("number \(text) is out of range") }
        return value
    }
}
