import TaskHostIPC
import Testing

/// The manifest's `Signature` of a C task: what parses, and what each mistake says.
@Suite struct CSignatureTests {
    @Test func parsesEveryShape() throws {
        #expect(try CSignature(parsing: "int32 (instance, host)") == .default)
        #expect(try CSignature(parsing: "  void(payload,host)  ") == CSignature(returnType: .void, parameters: [.payload, .host]))
        #expect(try CSignature(parsing: "int32 (host, payload, instance)").parameters == [.host, .payload, .instance])
        #expect(try CSignature(parsing: "int32 ()").parameters == [])
        #expect(try CSignature(parsing: "void (void)") == CSignature(returnType: .void, parameters: []))
    }

    @Test func printsItsCanonicalSpelling() throws {
        #expect(try CSignature(parsing: "void(payload,host)").description == "void (payload, host)")
        #expect(CSignature.default.description == "int32 (instance, host)")
    }

    @Test(arguments: [
        ("int64 (instance)", "unknown return type \"int64\""),
        ("(instance)", "the return type is missing"),
        ("int32 instance, host", "expected RETURN (PARAMETERS)"),
        ("int32 (instance, context)", "unknown parameter \"context\""),
        ("int32 (host, host)", "parameter \"host\" appears twice"),
        ("int32 (instance,, host)", "a parameter is missing between commas"),
        ("", "expected RETURN (PARAMETERS)"),
    ])
    func mistakesSayWhatIsWrongAndWhatIsAllowed(_ text: String, _ problem: String) {
        #expect(throws: CSignatureError(problem)) { try CSignature(parsing: text) }
        #expect(CSignatureError(problem).description.contains("RETURN is int32 or void"))
    }
}
