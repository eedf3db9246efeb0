import Foundation
import TaskHostIPC
import Testing

@testable import TaskHostCore
@testable import TaskHostManifest
@testable import TaskHostStore

/// Every way a manifest is rejected, each with one message naming the file,
/// the place, the task and the field.
@Suite struct ManifestValidationTests {
    let valid = """
        {
          "Identity": { "Name": "com.example.rawpush", "Version": "1.0.0" },
          "BackgroundTasks": [
            { "Name": "SampleBackgroundTask",
              "TaskEntryPoint": "BackgroundTasks.SampleBackgroundTask",
              "Library": "BackgroundTasks",
              "Triggers": [ { "Type": "PushNotification" } ] }
          ]
        }
        """

    func problems(_ text: String) -> [String] {
        do {
            _ = try AppManifest.parse(Array(text.utf8), path: "manifest.json")
            return []
        } catch {
            return error.description.split(separator: "\n").map(String.init)
        }
    }

    @Test func acceptsTheSampleManifest() throws {
        let manifest = try AppManifest.parse(Array(valid.utf8), path: "dir/manifest.json")
        #expect(manifest.identity == AppIdentity(name: "com.example.rawpush", version: "1.0.0"))
        #expect(manifest.directory == "dir")
        let task = try #require(manifest.task(named: "SampleBackgroundTask"))
        #expect(task.entryPoint == "BackgroundTasks.SampleBackgroundTask")
        #expect(task.library == "BackgroundTasks")
        #expect(task.triggers == [.pushNotification])
        #expect(task.timeLimit == .seconds(30))
        #expect(task.cancellationGracePeriod == .seconds(5))
        #expect(task.position == SourcePosition(line: 4, column: 5))
    }

    @Test func theRepositoryManifestIsValid() throws {
        let path = #filePath.replacingOccurrences(of: "Tests/TaskHostCoreTests/ManifestValidationTests.swift", with: "manifest.json")
        let manifest = try AppManifest.load(path: path)
        #expect(manifest.tasks.map(\.name) == ["SampleBackgroundTask", "PushCounter"])
        #expect(manifest.tasks[0].abi == .swift)
        #expect(manifest.tasks[1].abi == .c(signature: .default))
        #expect(manifest.tasks[1].symbol == "on_push")
        #expect(manifest.tasks[1].library == "CPushCounter")
    }

    @Test func optionalFieldsAreRead() throws {
        let manifest = try AppManifest.parse(
            Array(
                """
                {"Identity": {"Name": "a"}, "BackgroundTasks": [
                  {"Name": "T", "TaskEntryPoint": "Mod.Outer.Inner", "TimeLimitSeconds": 2.5, "CancellationGraceSeconds": 0,
                   "Capabilities": ["internetClient"], "Description": "d",
                   "Triggers": [{"Type": "Time", "IntervalMinutes": 15, "OneShot": true}, {"Type": "Application"}]}]}
                """.utf8), path: "m.json")
        let task = manifest.tasks[0]
        #expect(task.library == "Mod", "Library defaults to the entry point's module")
        #expect(task.timeLimit == .milliseconds(2500))
        #expect(task.cancellationGracePeriod == .zero)
        #expect(task.capabilities == [.internetClient])
        #expect(task.triggers == [.time(intervalMinutes: 15, oneShot: true), .application])
    }

    @Test func invalidJSONNamesLineAndColumn() {
        let text = "{\n  \"Identity\": { \"Name\": \"a\" },\n  \"BackgroundTasks\": [1, 2,, 3]\n}"
        // The broken element is skipped, so the others' problems are reported too.
        #expect(
            problems(text) == [
                "manifest.json:3:23: a task must be an object, found a number",
                "manifest.json:3:26: a task must be an object, found a number",
                "manifest.json:3:28: invalid JSON: unexpected character ','; expected a value",
                "manifest.json:3:30: a task must be an object, found a number",
            ])
        #expect(problems("") == ["manifest.json:1:1: invalid JSON: unexpected end of file; expected a value"])
        #expect(problems("{\"a\": \"unterminated") == ["manifest.json:1:20: invalid JSON: unexpected end of file inside a string"])
        #expect(problems("{} x") == ["manifest.json:1:4: invalid JSON: unexpected text after the end of the document"])
        #expect(problems("{\"a\": 1, \"a\": 2}") == ["manifest.json:1:10: invalid JSON: duplicate field \"a\""])
    }

    @Test func unknownFieldsAreRejectedWithASuggestion() {
        let text = valid.replacingOccurrences(of: "\"TaskEntryPoint\"", with: "\"TaskEntrypoint\"")
        #expect(
            problems(text) == [
                "manifest.json:5:7: task \"SampleBackgroundTask\": unknown field \"TaskEntrypoint\" in a task (did you mean \"TaskEntryPoint\"?); known fields: Name, TaskEntryPoint, Triggers, Library, TimeLimitSeconds, CancellationGraceSeconds, Capabilities, Limits, Description, Abi, Symbol, Signature, ClaimWindowMs",
                "manifest.json:4:5: task \"SampleBackgroundTask\": missing required field \"TaskEntryPoint\" in a task",
            ])
        let topLevel = valid.replacingOccurrences(of: "\"Identity\"", with: "\"Identity\": {\"Name\": \"x\"}, \"Extra\": 1, \"Ignored\"")
        #expect(problems(topLevel).contains { $0.contains("unknown field \"Extra\" in the manifest") })
    }

    @Test func missingFieldsAreRejected() {
        #expect(
            problems("{\"Identity\": {\"Name\": \"a\"}}") == [
                "manifest.json:1:1: missing required field \"BackgroundTasks\" in the manifest"
            ])
        let noTriggers = "{\"Identity\": {\"Name\": \"a\"}, \"BackgroundTasks\": [{\"Name\": \"T\", \"TaskEntryPoint\": \"M.C\"}]}"
        #expect(
            problems(noTriggers) == [
                "manifest.json:1:49: task \"T\": missing required field \"Triggers\" in a task"
            ])
        #expect(
            problems("{\"Identity\": {}, \"BackgroundTasks\": []}") == [
                "manifest.json:1:14: missing required field \"Name\" in Identity",
                "manifest.json:1:37: BackgroundTasks is empty; declare at least one task",
            ])
    }

    @Test func duplicateTaskNamesAreRejected() {
        let task = "{\"Name\": \"T\", \"TaskEntryPoint\": \"M.C\", \"Triggers\": [{\"Type\": \"Application\"}]}"
        let text = "{\"Identity\": {\"Name\": \"a\"}, \"BackgroundTasks\": [\n\(task),\n\(task)]}"
        #expect(
            problems(text) == [
                "manifest.json:3:1: task \"T\": duplicate task name (first declared at line 2); task names must be unique"
            ])
    }

    @Test(arguments: ["Foo", "Foo.", ".Foo", "Foo..Bar", "1Foo.Bar", "Foo.Bar-Baz", "Foo Bar.Baz", ""])
    func entryPointMustBeModuleDotClass(_ entryPoint: String) {
        let text = valid.replacingOccurrences(of: "BackgroundTasks.SampleBackgroundTask", with: entryPoint)
        #expect(
            problems(text) == [
                "manifest.json:5:25: task \"SampleBackgroundTask\": TaskEntryPoint \"\(entryPoint)\" is not Module.Class (e.g. \"BackgroundTasks.SampleBackgroundTask\")"
            ])
    }

    @Test func fieldTypesAndRangesAreChecked() {
        func task(_ fields: String) -> String {
            "{\"Identity\": {\"Name\": \"a\"}, \"BackgroundTasks\": [{\"Name\": \"T\", \"TaskEntryPoint\": \"M.C\", \(fields)}]}"
        }
        #expect(problems(task("\"Triggers\": {}")).first?.hasSuffix("task \"T\": Triggers must be an array, found an object") == true)
        #expect(problems(task("\"Triggers\": []")).first?.contains("Triggers is empty") == true)
        #expect(
            problems(task("\"Triggers\": [{\"Type\": \"Push\"}]")).first?.contains(
                "unknown trigger Type \"Push\"; known types: PushNotification, Application, Time, WebPush") == true)
        #expect(problems(task("\"Triggers\": [{\"Type\": \"Timer\"}]")).first?.contains("(did you mean \"Time\"?)") == true)
        #expect(
            problems(task("\"Triggers\": [{\"Type\": \"Time\"}]")).first?.contains("missing required field \"IntervalMinutes\"") == true)
        #expect(
            problems(task("\"Triggers\": [{\"Type\": \"Time\", \"IntervalMinutes\": 0.5}]")).first?.contains(
                "IntervalMinutes must be a whole number of minutes") == true)
        let base = "\"Triggers\": [{\"Type\": \"Application\"}]"
        #expect(
            problems(task(base + ", \"TimeLimitSeconds\": 0")).first?.contains(
                "TimeLimitSeconds is 0; it must be between 0.001 and 86400 seconds") == true)
        #expect(
            problems(task(base + ", \"TimeLimitSeconds\": \"30\"")).first?.contains(
                "TimeLimitSeconds must be a number of seconds, found a string") == true)
        #expect(
            problems(task(base + ", \"CancellationGraceSeconds\": 301")).first?.contains(
                "CancellationGraceSeconds is 301") == true)
        #expect(
            problems(task(base + ", \"Capabilities\": [\"root\"]")).first?.contains(
                "unknown capability \"root\"; known capabilities: internetClient") == true)
        #expect(problems(task(base + ", \"Library\": \"\"")).first?.contains("Library is empty") == true)
        #expect(problems(task(base + ", \"Library\": 7")).first?.contains("Library must be a string, found a number") == true)
        #expect(problems("[]") == ["manifest.json:1:1: the manifest must be an object, found an array"])
    }

    @Test func everyProblemIsReportedAtOnce() {
        let text = """
            {"Identity": {"Name": "a"}, "BackgroundTasks": [
              {"Name": "A", "TaskEntryPoint": "Bad", "Triggers": [{"Type": "Application"}]},
              {"Name": "B", "TaskEntryPoint": "M.C", "Triggers": [], "Colour": "red"}
            ]}
            """
        let found = problems(text)
        #expect(found.count == 3)
        #expect(found[0].hasPrefix("manifest.json:2:35: task \"A\": TaskEntryPoint \"Bad\""))
        #expect(found[1].hasPrefix("manifest.json:3:58: task \"B\": unknown field \"Colour\""))
        #expect(found[2].hasPrefix("manifest.json:3:54: task \"B\": Triggers is empty"))
    }

    // MARK: - C tasks ("Abi": "c")

    /// A manifest with one task whose fields (after the name) are `fields`, one per line from line 4.
    func cTask(_ fields: [String]) -> String {
        "{\"Identity\": {\"Name\": \"a\"}, \"BackgroundTasks\": [\n  {\"Name\": \"X\",\n"
            + fields.map { "   " + $0 }.joined(separator: ",\n") + "}]}"
    }
    let cTrigger = "\"Triggers\": [{\"Type\": \"PushNotification\"}]"

    @Test func aCTaskIsReadWithItsSymbolAndSignature() throws {
        let text = cTask([
            "\"Abi\": \"c\"", "\"Symbol\": \"on_push\"", "\"Signature\": \" void(payload , host) \"",
            "\"Library\": \"CPushCounter\"", cTrigger,
        ])
        let task = try AppManifest.parse(Array(text.utf8), path: "m.json").tasks[0]
        #expect(task.abi == .c(signature: CSignature(returnType: .void, parameters: [.payload, .host])))
        #expect(task.entryPoint == "on_push")
        #expect(task.symbol == "on_push")
        #expect(task.cSignature?.description == "void (payload, host)")
        #expect(task.entryPointDescription == "C function on_push: void (payload, host)")

        let defaults = try AppManifest.parse(
            Array(cTask(["\"Abi\": \"c\"", "\"Symbol\": \"f\"", "\"Library\": \"L\"", cTrigger]).utf8), path: "m.json")
        #expect(defaults.tasks[0].cSignature == .default, "the default signature is int32 (instance, host)")
        #expect(try AppManifest.parse(Array(valid.utf8), path: "m.json").tasks[0].symbol == nil)
    }

    @Test func aCTaskNeedsASymbolAndALibrary() {
        #expect(
            problems(cTask(["\"Abi\": \"c\"", "\"Library\": \"L\"", cTrigger])) == [
                "manifest.json:2:3: task \"X\": \"Symbol\" is required when \"Abi\" is \"c\"; name the exported C function, e.g. \"Symbol\": \"on_push\""
            ])
        #expect(
            problems(cTask(["\"Abi\": \"c\"", "\"Symbol\": \"on_push\"", cTrigger])) == [
                "manifest.json:2:3: task \"X\": \"Library\" is required when \"Abi\" is \"c\"; name the library (\"CPushCounter\" finds libCPushCounter.so) or give a path (\"lib/libpush.so\")"
            ])
        #expect(
            problems(cTask(["\"Abi\": \"c\"", "\"Symbol\": \"on-push\"", "\"Library\": \"L\"", cTrigger])) == [
                "manifest.json:4:14: task \"X\": Symbol \"on-push\" is not a C identifier (1 to 255 ASCII letters, digits and '_', not starting with a digit)"
            ])
        #expect(
            problems(cTask(["\"Abi\": \"c\"", "\"Symbol\": 3", "\"Library\": \"L\"", cTrigger])) == [
                "manifest.json:4:14: task \"X\": Symbol must be a string, found a number"
            ])
    }

    @Test func anUnknownAbiListsTheKnownOnes() {
        #expect(
            problems(cTask(["\"Abi\": \"rust\"", "\"Symbol\": \"on_push\"", "\"Library\": \"L\"", cTrigger])) == [
                "manifest.json:3:11: task \"X\": unknown Abi \"rust\"; \"Abi\" is \"swift\" (the default: a BackgroundTask class named by \"TaskEntryPoint\") or \"c\" (a C function named by \"Symbol\")"
            ])
        #expect(
            problems(cTask(["\"Abi\": \"C\"", "\"Symbol\": \"on_push\"", "\"Library\": \"L\"", cTrigger])).first?
                .contains("unknown Abi \"C\" (did you mean \"c\"?)") == true)
    }

    @Test func aBadSignatureSaysWhatIsAllowed() {
        #expect(
            problems(
                cTask(["\"Abi\": \"c\"", "\"Symbol\": \"f\"", "\"Signature\": \"int64 (instance, ctx)\"", "\"Library\": \"L\"", cTrigger]))
                == [
                    "manifest.json:5:17: task \"X\": Signature \"int64 (instance, ctx)\" is not valid: unknown return type \"int64\"; "
                        + "write \"RETURN (PARAMETERS)\": RETURN is int32 or void; PARAMETERS lists, in any order and each at most once, "
                        + "instance, host and payload (e.g. \"int32 (instance, host)\", \"void (payload, host)\", \"int32 ()\")"
                ])
        #expect(
            problems(
                cTask(["\"Abi\": \"c\"", "\"Symbol\": \"f\"", "\"Signature\": \"int32 (host, host)\"", "\"Library\": \"L\"", cTrigger])
            )
            .first?.contains("Signature \"int32 (host, host)\" is not valid: parameter \"host\" appears twice;") == true)
    }

    @Test func swiftAndCFieldsDoNotMix() {
        #expect(
            problems(cTask(["\"Abi\": \"c\"", "\"TaskEntryPoint\": \"M.C\"", "\"Symbol\": \"f\"", "\"Library\": \"L\"", cTrigger])) == [
                "manifest.json:4:22: task \"X\": \"TaskEntryPoint\" and \"Symbol\" are both given; a Swift task names its class with \"TaskEntryPoint\", a C task (\"Abi\": \"c\") its function with \"Symbol\": keep one"
            ])
        #expect(
            problems(cTask(["\"TaskEntryPoint\": \"M.C\"", "\"Symbol\": \"f\"", cTrigger])).first?
                .hasPrefix("manifest.json:3:22: task \"X\": \"TaskEntryPoint\" and \"Symbol\" are both given") == true)
        #expect(
            problems(cTask(["\"Symbol\": \"f\"", "\"Library\": \"L\"", cTrigger])) == [
                "manifest.json:3:14: task \"X\": \"Symbol\" names a C function: add \"Abi\": \"c\" (or name a Swift class with \"TaskEntryPoint\")"
            ])
        #expect(
            problems(cTask(["\"TaskEntryPoint\": \"M.C\"", "\"Signature\": \"void ()\"", cTrigger])) == [
                "manifest.json:4:17: task \"X\": \"Signature\" is only for C tasks; add \"Abi\": \"c\" with a \"Symbol\", or remove it"
            ])
        #expect(
            problems(cTask(["\"Abi\": \"c\"", "\"TaskEntryPoint\": \"M.C\"", "\"Library\": \"L\"", cTrigger])) == [
                "manifest.json:2:3: task \"X\": \"Symbol\" is required when \"Abi\" is \"c\"; name the exported C function, e.g. \"Symbol\": \"on_push\" (\"TaskEntryPoint\" names Swift classes only)"
            ])
    }

    @Test func aQuotedLineBreakKeepsTheProblemOnOneLine() {
        let text = cTask(["\"Abi\": \"c\\nc\"", "\"Symbol\": \"f\"", "\"Library\": \"L\"", cTrigger])
        #expect(
            problems(text) == [
                "manifest.json:3:11: task \"X\": unknown Abi \"c\\nc\" (did you mean \"c\"?); \"Abi\" is \"swift\" (the default: a BackgroundTask class named by \"TaskEntryPoint\") or \"c\" (a C function named by \"Symbol\")"
            ])
    }

    @Test func invalidJSONInOneTaskDoesNotHideTheOtherTasksProblems() {
        let text = """
            {
              "Identity": { "Name": "a" },
              "BackgroundTasks": [
                { "Name": "First", "TaskEntryPoint": "M.A" "Triggers": [{ "Type": "Application" }] },
                { "Name": "Second", "TaskEntryPoint": "M.B", "Triggers": [{ "Type": "Application" }], "Name": "Again" },
                { "Name": "Third", "TaskEntryPoint": "nodot", "Triggers": [{ "Type": "Application" }] }
                { "Name": "Fourth", "TaskEntryPoint": "M.D", "Triggers": [{ "Type": "Sometimes" }] }
              ]
            }
            """
        #expect(
            problems(text) == [
                "manifest.json:4:48: task \"First\": invalid JSON: expected ',' or '}' after a field's value",
                "manifest.json:5:91: task \"Second\": invalid JSON: duplicate field \"Name\"",
                "manifest.json:6:42: task \"Third\": TaskEntryPoint \"nodot\" is not Module.Class (e.g. \"BackgroundTasks.SampleBackgroundTask\")",
                "manifest.json:7:5: invalid JSON: expected ',' or ']' after an array element",
                "manifest.json:7:73: task \"Fourth\": unknown trigger Type \"Sometimes\"; known types: PushNotification, Application, Time, WebPush",
            ])
    }

    @Test func invalidJSONThatCannotBeSkippedStopsThere() {
        let text = "{\"Identity\": {\"Name\": \"a\"}, \"BackgroundTasks\": [{\"Name\": \"X\", \"Triggers\": [}"
        #expect(problems(text) == ["manifest.json:1:76: task \"X\": invalid JSON: unexpected character '}'; expected a value"])
    }

    @Test func aMissingFileSaysWhatToDo() {
        #expect(throws: ManifestError.self) { try AppManifest.load(path: "/nonexistent/manifest.json") }
        do {
            _ = try AppManifest.load(path: "/nonexistent/manifest.json")
        } catch {
            #expect(error.description == "/nonexistent/manifest.json: no such file (pass --manifest PATH, or run from the app's directory)")
        }
    }

    @Test func columnsCountCharactersNotBytes() {
        #expect(problems("{\"é\": x}") == ["manifest.json:1:7: invalid JSON: unexpected character 'x'; expected a value"])
    }

    @Test func deepNestingIsRefusedNotCrashed() {
        let text = String(repeating: "[", count: 10_000)
        #expect(problems(text) == ["manifest.json:1:65: invalid JSON: nesting deeper than 64 levels"])
    }
}
