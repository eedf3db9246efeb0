/// How to call a C task's function: what the manifest's `"Signature"` says,
/// from which the worker builds the call with libffi.
///
/// Grammar: `RETURN (PARAMETERS)`, where `RETURN` is `int32` or `void` and
/// `PARAMETERS` is a comma-separated list, in any order, each at most once, of
/// `instance` (`const th_c_instance *`), `host` (`const th_c_host *`) and
/// `payload` (two C arguments: `const uint8_t *data, size_t length`). An
/// empty list is `()` or `(void)`. Spaces are free. The default is
/// `int32 (instance, host)`.
package struct CSignature: Sendable, Hashable, CustomStringConvertible {
    /// What the function returns.
    package enum ReturnType: String, Sendable, CaseIterable {
        /// `int32_t`: 0 is success, anything else a failure code.
        case int32
        /// `void`: the instance always completes.
        case void
    }

    /// One parameter, as the manifest names it.
    package enum Parameter: String, Sendable, CaseIterable {
        /// `const th_c_instance *`: what fired the instance.
        case instance
        /// `const th_c_host *`: the host's callbacks.
        case host
        /// `const uint8_t *data, size_t length`: the trigger's payload.
        case payload
    }

    /// What the function returns.
    package var returnType: ReturnType
    /// The parameters, in call order.
    package var parameters: [Parameter]

    /// `int32 (instance, host)`.
    package static let `default` = CSignature(returnType: .int32, parameters: [.instance, .host])

    /// Creates a signature. Each parameter may appear once.
    package init(returnType: ReturnType, parameters: [Parameter]) {
        self.returnType = returnType
        self.parameters = parameters
    }

    /// Parses the manifest's spelling, e.g. `"int32 (payload, host)"`.
    package init(parsing text: String) throws(CSignatureError) {
        let trimmed = text.trimmingSpaces
        guard let open = trimmed.firstIndex(of: "("), trimmed.last == ")" else {
            throw CSignatureError("expected RETURN (PARAMETERS)")
        }
        let returnText = trimmed[..<open].trimmingSpaces
        guard !returnText.isEmpty else { throw CSignatureError("the return type is missing") }
        guard let returnType = ReturnType(rawValue: String(returnText)) else {
            throw CSignatureError("unknown return type \"\(returnText)\"")
        }
        let inside = trimmed[trimmed.index(after: open)..<trimmed.index(before: trimmed.endIndex)].trimmingSpaces
        var parameters: [Parameter] = []
        if !inside.isEmpty, inside != "void" {
            for part in inside.split(separator: ",", omittingEmptySubsequences: false) {
                let name = part.trimmingSpaces
                guard !name.isEmpty else { throw CSignatureError("a parameter is missing between commas") }
                guard let parameter = Parameter(rawValue: String(name)) else {
                    throw CSignatureError("unknown parameter \"\(name)\"")
                }
                guard !parameters.contains(parameter) else { throw CSignatureError("parameter \"\(name)\" appears twice") }
                parameters.append(parameter)
            }
        }
        self.init(returnType: returnType, parameters: parameters)
    }

    /// The canonical spelling, e.g. `int32 (instance, host)`.
    package var description: String {
        "\(returnType.rawValue) (\(parameters.map(\.rawValue).joined(separator: ", ")))"
    }

    /// The grammar, for error messages.
    package static let grammar =
        "write \"RETURN (PARAMETERS)\": RETURN is int32 or void; PARAMETERS lists, in any order and each at most once, "
        + "instance, host and payload (e.g. \"int32 (instance, host)\", \"void (payload, host)\", \"int32 ()\")"
}

/// Why a `Signature` could not be parsed.
package struct CSignatureError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong, without the grammar.
    package var problem: String

    /// Creates an error.
    package init(_ problem: String) { self.problem = problem }

    /// The problem, then the grammar.
    package var description: String { "\(problem); \(CSignature.grammar)" }
}

extension StringProtocol {
    fileprivate var trimmingSpaces: Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        let text = self[...]
        guard let first = text.firstIndex(where: { !isSpace($0) }), let last = text.lastIndex(where: { !isSpace($0) }) else {
            return Substring()
        }
        return Substring(text[first...last])
    }
}
