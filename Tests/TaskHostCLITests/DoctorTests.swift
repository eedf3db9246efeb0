import Foundation
import Testing

extension CLITests {
    /// `doctor` and an instance's history say the same about the process
    /// limit (one test behind both), and `doctor` has a line for it and for
    /// the minimal environment.
    @Test func doctorAndAnInstancesHistoryAgreeOnTheProcessLimit() throws {
        let doctor = try taskhost(["doctor"])
        let lines = doctor.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        let processLimit = try #require(lines.first { $0.contains(" process-limit ") }, "\(doctor.stdout)")
        #expect(lines.contains { $0.hasPrefix("ok") && $0.contains(" environment ") }, "\(doctor.stdout)")
        #expect(!doctor.stdout.contains("not enforced on this host: memory and process limits"))

        let manifest = try faultyManifest("Echo", "FaultyTasks.AsyncEchoTask")
        let run = try taskhost(["run", "Echo", "--manifest", manifest])
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        let id = try #require(run.stdout.split(separator: "\n").first { $0.hasPrefix("instance ") }?.split(separator: " ")[1])
        let logs = try taskhost(["logs", String(id)])
        let sandbox = try #require(logs.stdout.split(separator: "\n").first { $0.hasPrefix("sandbox: ") }, "\(logs.stdout)")
        let enforced = sandbox.split(separator: ";")[0]
        let notEnforced = sandbox.components(separatedBy: "NOT enforced: ").dropFirst().first ?? ""
        #expect(enforced.contains("process-limit") == processLimit.hasPrefix("ok"), "doctor: \(processLimit); history: \(sandbox)")
        #expect(notEnforced.contains("process-limit") == processLimit.hasPrefix("MISSING"), "doctor: \(processLimit); history: \(sandbox)")
    }

    /// `doctor` has a line per fact conditions read: observed or not, each
    /// condition's value now, and what was read; its condition options are checked.
    @Test func doctorSaysWhichConditionsThisHostObservesAndTheirValues() throws {
        let doctor = try taskhost(["doctor", "--min-free-storage", "0"])
        let lines = doctor.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(lines.contains { $0.hasPrefix("conditions (") }, "\(doctor.stdout)")
        for name in ["InternetAvailable", "UserPresent", "SessionConnected", "BackgroundWorkCostNotHigh", "FreeStorage"] {
            #expect(lines.contains { ($0.hasPrefix("observed ") || $0.hasPrefix("cannot ")) && $0.contains(" \(name) ") }, "\(name)")
        }
        #expect(
            lines.contains { $0.hasPrefix("observed FreeStorage holds: ") && $0.contains("at least 0 MiB required") }, "\(doctor.stdout)")
        #expect(lines.contains { $0.hasPrefix("source: a default route in /proc/net/route") }, "\(doctor.stdout)")
        let bad = try taskhost(["doctor", "--internet-probe", "example.com"])
        #expect(bad.status != 0 && bad.stderr.contains("--internet-probe \"example.com\" is not HOST:PORT"), "\(bad.stderr)")
    }
}
