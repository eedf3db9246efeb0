import Foundation
import Testing

@testable import TaskHostManifest

/// A task's `ClaimWindowMs` (issue 18): how long its pushes wait for a
/// foreground listener's claim; validated with the manifest's clear errors.
@Suite struct ClaimWindowManifestTests {
    func manifest(_ claimWindow: String?) -> String {
        """
        {
          "Identity": { "Name": "com.example.rawpush" },
          "BackgroundTasks": [
            { "Name": "Sample", "TaskEntryPoint": "BackgroundTasks.SampleBackgroundTask",
              "Triggers": [ { "Type": "PushNotification" } ]\(claimWindow.map { ", \"ClaimWindowMs\": \($0)" } ?? "") }
          ]
        }
        """
    }

    func parse(_ claimWindow: String?) throws -> TaskDeclaration? {
        try AppManifest.parse(Array(manifest(claimWindow).utf8), path: "manifest.json").task(named: "Sample")
    }

    @Test func defaultsTo100MillisecondsAndTakesZeroToObserveOnly() throws {
        #expect(try parse(nil)?.claimWindow == .milliseconds(100))
        #expect(try parse("0")?.claimWindow == .zero)
        #expect(try parse("2500")?.claimWindow == .milliseconds(2500))
    }

    @Test(arguments: ["-1", "1.5", "60001", "\"100\""]) func refusesWhatIsNotAWholeNumberOfMillisecondsInRange(value: String) {
        #expect {
            _ = try parse(value)
        } throws: { error in
            let text = "\(error)"
            return text.contains("manifest.json:5:") && text.contains("ClaimWindowMs") && text.contains("from 0")
                && text.contains("Sample")
        }
    }
}
