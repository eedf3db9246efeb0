import Foundation
import TaskHostTestSupport
import Testing

@testable import TaskHostCore
@testable import TaskHostManifest
@testable import TaskHostStore

/// Bounded, seeded fuzzing of the manifest decoder: mutated manifests either
/// parse or are refused with located messages; nothing crashes or hangs.
/// A failure prints its seed and iteration, to replay it.
@Suite struct ManifestFuzzTests {
    static let seed = try! Array(String(contentsOfFile: TestSupport.repository + "/manifest.json", encoding: .utf8).utf8)
    static let tokens: [[UInt8]] = [
        "{", "}", "[", "]", ",", ":", "\"", "\\", "null", "true", "1e999", "-0", "\"\\u0000\"",
        "\"TaskEntryPoint\"", "\"Triggers\"", "\u{FEFF}", "\u{1F600}", "\n",
    ].map { Array($0.utf8) }

    static func mutate(_ input: [UInt8], using generator: inout SeededGenerator) -> [UInt8] {
        var bytes = input
        for _ in 0..<Int.random(in: 1...8, using: &generator) {
            let position = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &generator)
            switch Int.random(in: 0..<5, using: &generator) {
            case 0 where !bytes.isEmpty: bytes[position] = UInt8.random(in: 0...255, using: &generator)
            case 1 where !bytes.isEmpty: bytes.remove(at: position)
            case 2: bytes.insert(contentsOf: tokens.randomElement(using: &generator)!, at: position)
            case 3 where bytes.count > 2:
                let end = Int.random(in: position...min(bytes.count, position + 40), using: &generator)
                bytes.removeSubrange(position..<end)
            default: bytes.insert(contentsOf: bytes[position..<min(bytes.count, position + 30)], at: position)
            }
        }
        return bytes
    }

    @Test func mutatedManifestsAreParsedOrRefusedWithALocation() {
        var generator = SeededGenerator(seed: 0xF0_22)
        var refused = 0
        for iteration in 0..<5_000 {
            let input = Self.mutate(Self.seed, using: &generator)
            do {
                _ = try AppManifest.parse(input, path: "manifest.json")
            } catch {
                refused += 1
                #expect(!error.problems.isEmpty, "iteration \(iteration)")
                #expect(error.description.split(separator: "\n").allSatisfy { $0.hasPrefix("manifest.json") }, "iteration \(iteration)")
            }
        }
        #expect(refused > 1_000, "the mutations exercise the refusals")
    }

    @Test func randomBytesAreRefusedNotCrashed() {
        var generator = SeededGenerator(seed: 0xB17E5)
        for _ in 0..<2_000 {
            let input = (0..<Int.random(in: 0..<200, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            _ = try? AppManifest.parse(input, path: "manifest.json")
        }
    }
}
