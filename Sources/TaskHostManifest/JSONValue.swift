/// A position in a text file, 1-based, for error messages.
package struct SourcePosition: Sendable, Equatable, CustomStringConvertible {
    /// The line, from 1.
    package var line: Int
    /// The column, from 1, counted in characters.
    package var column: Int

    /// Creates a position.
    package init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    /// `line:column`, as in `manifest.json:7:25`.
    package var description: String { "\(line):\(column)" }
}

/// A parsed JSON value that remembers where it stood in the file, so that a
/// manifest error can say `manifest.json:7:25`.
///
/// Foundation's JSON parser reports only a character offset for syntax
/// errors and nothing at all for a value that parses but is wrong, hence this
/// small parser (RFC 8259, no extensions).
package indirect enum JSONValue: Sendable, Equatable {
    case object([JSONMember])
    case array([JSONNode])
    case string(String)
    case number(Double)
    case bool(Bool)
    case null

    /// A word for the value's type, for messages ("expected a string, found an array").
    package var typeName: String {
        switch self {
        case .object: "an object"
        case .array: "an array"
        case .string: "a string"
        case .number: "a number"
        case .bool: "a boolean"
        case .null: "null"
        }
    }
}

/// A value and where it starts.
package struct JSONNode: Sendable, Equatable {
    /// The value.
    package var value: JSONValue
    /// Where its first character stands.
    package var position: SourcePosition
}

/// A member of an object: its key, where the key stands, and its value.
package struct JSONMember: Sendable, Equatable {
    /// The key.
    package var key: String
    /// Where the key's opening quote stands.
    package var keyPosition: SourcePosition
    /// The member's value.
    package var node: JSONNode
}

/// A JSON syntax error and where it is.
package struct JSONSyntaxError: Error, Sendable, Equatable {
    /// What is wrong.
    package var message: String
    /// Where it is wrong.
    package var position: SourcePosition
    /// With ``JSONParser/parseRecovering(_:labelKey:)``: the label (e.g. a
    /// task's `Name`) of the array element the error is in, when it was read
    /// before the error.
    package var element: String? = nil
}
