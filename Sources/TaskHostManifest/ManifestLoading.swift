import Foundation

/// One thing wrong with a manifest.
package struct ManifestProblem: Sendable, Equatable, CustomStringConvertible {
    /// Where the problem is, when it is at a particular place.
    package var position: SourcePosition?
    /// The task it concerns, when it concerns one.
    package var task: String?
    /// What is wrong and, where it helps, what to do.
    package var message: String

    /// Creates a problem.
    package init(position: SourcePosition? = nil, task: String? = nil, message: String) {
        self.position = position
        self.task = task
        self.message = message
    }

    /// The problem as `validate` prints it: its task, then the message.
    package var description: String {
        (task.map { "task \"\($0)\": " } ?? "") + message
    }
}

/// A manifest that cannot be used, with every problem found in it.
package struct ManifestError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The manifest's path, as given.
    package var file: String
    /// What is wrong, in file order.
    package var problems: [ManifestProblem]

    /// Creates an error for `file`.
    package init(file: String, problems: [ManifestProblem]) {
        self.file = file
        self.problems = problems
    }

    /// One line per problem: `manifest.json:7:25: task "X": …`. Line breaks
    /// inside a problem (from a quoted value) are written `\n`, so each problem
    /// stays on its line.
    package var description: String {
        problems.map { problem in
            let location = problem.position.map { "\(file):\($0)" } ?? file
            let text = "\(problem)".replacingOccurrences(of: "\r", with: "\\r").replacingOccurrences(of: "\n", with: "\\n")
            return "\(location): \(text)"
        }.joined(separator: "\n")
    }
}

extension AppManifest {
    /// The default time limit of an instance, as on Windows: 30 seconds.
    package static let defaultTimeLimit = Duration.seconds(30)
    /// The default grace period after cancellation: 5 seconds.
    package static let defaultGracePeriod = Duration.seconds(5)

    /// Reads and validates the manifest at `path`.
    package static func load(path: String) throws(ManifestError) -> AppManifest {
        guard let data = FileManager.default.contents(atPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw ManifestError(
                file: path,
                problems: [
                    ManifestProblem(
                        message: exists
                            ? "cannot read the file (check its permissions)"
                            : "no such file (pass --manifest PATH, or run from the app's directory)")
                ])
        }
        return try parse(Array(data), path: path)
    }

    /// Validates manifest text; `path` is used in messages and to resolve libraries.
    ///
    /// Every problem is reported at once: invalid JSON in one task does not
    /// hide the other tasks' problems (that task is skipped and the rest is read).
    package static func parse(_ bytes: [UInt8], path: String) throws(ManifestError) -> AppManifest {
        let (root, syntaxErrors) = JSONParser.parseRecovering(bytes, labelKey: "Name")
        let invalid = syntaxErrors.map { error in
            ManifestProblem(position: error.position, task: error.element, message: "invalid JSON: \(error.message)")
        }
        guard let root else { throw ManifestError(file: path, problems: invalid) }
        var validator = ManifestValidator()
        validator.skippedTasks = !invalid.isEmpty
        let manifest = validator.manifest(root, path: path)
        // Syntax errors go in file order among the others (a problem without a position first).
        let problems =
            invalid.isEmpty
            ? validator.problems
            : (invalid + validator.problems).enumerated().sorted { first, second in
                let (a, b) = (first.element.position, second.element.position)
                return (a?.line ?? 0, a?.column ?? 0, first.offset) < (b?.line ?? 0, b?.column ?? 0, second.offset)
            }.map(\.element)
        guard let manifest, problems.isEmpty else {
            throw ManifestError(file: path, problems: problems)
        }
        return manifest
    }
}
