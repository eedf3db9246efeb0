import Foundation
import TaskHostTestSupport

/// Metrics text parsed by the official Prometheus Python client's parser
/// (`prometheus_client.parser.text_string_to_metric_families`, pinned in
/// Tests/requirements.txt): a real parser, not ours.
struct PrometheusText: Sendable {
    struct Family: Decodable, Sendable {
        var name: String
        var type: String
        var help: String
    }

    struct Sample: Decodable, Sendable {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    var families: [Family]
    var samples: [Sample]

    private struct Parsed: Decodable {
        var families: [Family]
        var samples: [Sample]
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static let script = """
        import json, sys
        from prometheus_client.parser import text_string_to_metric_families
        families, samples = [], []
        for family in text_string_to_metric_families(sys.stdin.read()):
            families.append({"name": family.name, "type": family.type, "help": family.documentation})
            for sample in family.samples:
                samples.append({"name": sample.name, "labels": sample.labels, "value": sample.value})
        json.dump({"families": families, "samples": samples}, sys.stdout)
        """

    /// Why the parser cannot run here (nil: it can).
    static var unavailable: String? {
        ExternalTools.missing(
            ExternalTools.python, "the tests' Python environment with prometheus-client",
            install: "python3 -m venv .build/test-venv && .build/test-venv/bin/pip install -r Tests/requirements.txt")
    }

    /// Parses `text`; throws what the parser said when it refuses it.
    static func parse(_ text: String) async throws -> PrometheusText {
        try await offThePool { try parseBlocking(text) }
    }

    private static func parseBlocking(_ text: String) throws -> PrometheusText {
        guard let python = ExternalTools.python else { throw Failure(description: unavailable ?? "no python") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", script]
        let input = Pipe()
        let output = Pipe()
        let errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let stdout = output.fileHandleForReading.readDataToEndOfFile()
        let stderr = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(description: "the Prometheus parser refused the text: \(String(decoding: stderr, as: UTF8.self))")
        }
        let parsed = try JSONDecoder().decode(Parsed.self, from: stdout)
        return PrometheusText(families: parsed.families, samples: parsed.samples)
    }

    /// The value of the sample `name` whose labels include `labels` (summed over the others); 0 when none.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double {
        samples.filter { sample in sample.name == name && labels.allSatisfy { sample.labels[$0.key] == $0.value } }.reduce(0) {
            $0 + $1.value
        }
    }
}
