import Foundation

/// Tools from outside this project that some tests drive (a Web Push library, a
/// Prometheus parser, a browser), found the same way everywhere.
///
/// `.ci/run` installs every such tool; the Python ones live in a virtual
/// environment built from `Tests/requirements.txt` (pinned versions), whose
/// interpreter it exports as `TASKHOST_TEST_PYTHON`. Under CI (`CI` set) a missing
/// tool is a failure, never a silent skip; on a developer's machine the test is
/// skipped with a line saying what to install.
package enum ExternalTools {
    /// Whether the tests run under CI, where every external tool must be present.
    package static var underCI: Bool { ProcessInfo.processInfo.environment["CI"].map { !$0.isEmpty } ?? false }

    /// The Python interpreter of the tests' virtual environment, if there is one.
    package static var python: String? {
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["TASKHOST_TEST_PYTHON"], FileManager.default.isExecutableFile(atPath: path) {
            return path
        }
        let local = TestSupport.repository + "/.build/test-venv/bin/python"
        return FileManager.default.isExecutableFile(atPath: local) ? local : nil
    }

    /// The first executable named `name` on `PATH`, if any.
    package static func executable(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Why a test cannot run here: `nil` when `tool` was found; otherwise a message
    /// naming what to install. Under CI callers record this as a failure.
    package static func missing(_ tool: String?, _ what: String, install: String) -> String? {
        tool == nil ? "\(what) is not installed (\(install)); .ci/run installs it" : nil
    }
}
