import Foundation
import TaskHostTestSupport
import Testing

/// `taskhost new-plugin`, end to end: generate, build, test, run.
@Suite struct NewPluginTests {
    func execute(
        _ executable: String, _ arguments: [String], in directory: String, state: String, path: String? = nil
    ) async throws -> (Int32, String) {
        var environment = ["TASKHOST_STATE_DIR": state]
        if let path { environment["PATH"] = path }
        let log = state + "-" + UUID().uuidString + ".log"
        let process = try ChildProcess.start(
            executable, arguments: arguments, overrides: environment, workingDirectory: directory,
            output: .file(log), error: .standardOutput)
        // Wait without holding a thread of Swift's cooperative pool: a build
        // takes minutes, and the pool has only as many threads as cores, so
        // blocking one would stall every async test running beside this one.
        _ = await process.waitForExit()
        return (process.terminationStatus, process.readSoFar(.output))
    }

    @Test func aGeneratedPluginBuildsPassesItsTestAndRuns() async throws {
        let directory = TestSupport.temporaryDirectory()
        let state = directory + "/state"
        let taskhost = TestSupport.taskhostPath
        let created = try await execute(
            taskhost, ["new-plugin", "Demo", "--output", directory, "--sdk", TestSupport.repository],
            in: directory, state: state)
        #expect(created.0 == 0, "\(created.1)")
        let package = directory + "/Demo"
        for file in ["Package.swift", "Sources/Demo/DemoTask.swift", "Tests/DemoTests/DemoTaskTests.swift", "manifest.json", "README.md"] {
            #expect(FileManager.default.fileExists(atPath: package + "/" + file), "\(file)")
        }
        // The generated README calls the taskhost that generated it, by an absolute path.
        let readme = try String(contentsOfFile: package + "/README.md", encoding: .utf8)
        let generator = (taskhost as NSString).resolvingSymlinksInPath
        #expect(created.1.contains("its README calls this taskhost: \(generator)"), "\(created.1)")
        #expect(readme.contains("`\(generator)`") && FileManager.default.isExecutableFile(atPath: generator), "\(readme)")
        let export = try #require(readme.split(separator: "\n").first { $0.hasPrefix("export PATH=\"") }, "\(readme)")
        let exported = String(export.dropFirst("export PATH=\"".count).prefix { $0 != ":" })
        #expect(exported.hasPrefix("/") && FileManager.default.isExecutableFile(atPath: exported + "/taskhost"), "\(export)")

        let again = try await execute(taskhost, ["new-plugin", "Demo", "--output", directory], in: directory, state: state)
        #expect(again.0 != 0 && again.1.contains("exists and is not empty"))

        let build = try await execute("/usr/bin/env", ["swift", "build"], in: package, state: state)
        #expect(build.0 == 0, "\(build.1.suffix(2000))")
        let test = try await execute("/usr/bin/env", ["swift", "test"], in: package, state: state)
        #expect(test.0 == 0, "\(test.1.suffix(2000))")
        #expect(test.1.contains("Test run with 2 tests"))

        // Its "Run it with taskhost" block, as a user pastes it: in a shell without taskhost on the PATH.
        let runSection = try #require(readme.components(separatedBy: "## Run it with taskhost").dropFirst().first)
        let block = try #require(runSection.components(separatedBy: "```sh\n").dropFirst().first?.components(separatedBy: "```").first)
        let pasted = try await execute("/bin/bash", ["-e", "-c", block], in: package, state: state, path: "/usr/bin:/bin")
        #expect(pasted.0 == 0, "\(block)\n\(pasted.1)")
        #expect(pasted.1.contains("of DemoTask: completed") && pasted.1.hasSuffix("hello\n"), "\(pasted.1)")

        let run = try await execute(
            taskhost,
            [
                "run", "DemoTask", "--manifest", "manifest.json", "--library-path", ".build/debug",
                "--raw-content", "hello from a new plugin",
            ], in: package, state: state)
        #expect(run.0 == 0, "\(run.1)")
        #expect(run.1.contains("of DemoTask: completed"))
        let stored = try await execute(
            taskhost, ["settings", "get", "last-push", "--manifest", "manifest.json"], in: package, state: state)
        #expect(stored.1 == "hello from a new plugin\n")

        // Installed as its README says: copied into the plugins directory of a running host.
        let elsewhere = directory + "/elsewhere"
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        let serve = try ChildProcess.start(
            taskhost, arguments: ["serve", "--port", "0", "--plugins-poll", "0.2", "--state-dir", state],
            workingDirectory: elsewhere, output: .null, error: .null)
        defer {
            serve.signal(SIGTERM)
            serve.waitUntilExit()
        }
        let installed = state + "/plugins/Demo"
        try FileManager.default.createDirectory(atPath: installed, withIntermediateDirectories: true)
        for file in ["manifest.json", ".build/debug/libDemo.so"] {
            try FileManager.default.copyItem(atPath: package + "/" + file, toPath: installed + "/" + (file as NSString).lastPathComponent)
        }
        var listed = ""
        for _ in 0..<300 where !listed.contains("active") {
            try await Task.sleep(for: .milliseconds(100))
            listed = try await execute(taskhost, ["plugins", "list"], in: elsewhere, state: state).1
        }
        #expect(listed.contains("Demo") && listed.contains("active") && listed.contains("DemoTask"), "\(listed)")
        let triggered = try await execute(taskhost, ["trigger", "DemoTask"], in: elsewhere, state: state)
        #expect(triggered.0 == 0, "\(triggered.1)")
        var history = ""
        for _ in 0..<300 where !history.contains("completed") {
            try await Task.sleep(for: .milliseconds(100))
            history = try await execute(taskhost, ["history"], in: elsewhere, state: state).1
        }
        #expect(history.contains("DemoTask") && history.contains("completed"), "\(history)")
    }

    @Test func badNamesAreRefused() async throws {
        let directory = TestSupport.temporaryDirectory()
        let result = try await execute(TestSupport.taskhostPath, ["new-plugin", "9lives"], in: directory, state: directory + "/state")
        #expect(result.0 != 0)
        #expect(result.1.contains("is not a Swift module name"))
    }
}
