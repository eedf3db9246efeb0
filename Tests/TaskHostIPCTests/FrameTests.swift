import TaskHostTestSupport
import Testing

@testable import TaskHostIPC

/// The framing between host and worker: round trips, arbitrary splits, and
/// every kind of truncated or garbage input as an error, never a crash.
@Suite struct FrameTests {
    static let hostMessages: [HostMessage] = [
        .start(
            StartRequest(
                libraryPath: "/lib/libX.so", entryPoint: "X.Y", taskName: "T", taskId: "tid", instanceId: "iid",
                triggerId: "trig", attempt: 3, triggerKind: 1, payload: [0, 1, 255], channelId: "chan",
                headers: ["x-wns-type": "wns/raw", "é": "ü"], arguments: ["k": "v"])),
        .start(
            StartRequest(
                libraryPath: "", entryPoint: "", taskName: "", taskId: "", instanceId: "", triggerId: "", attempt: 0, triggerKind: 0)),
        .check(libraryPath: "/lib/libX.so", entryPoints: ["A.B", "C.D"]),
        .start(
            StartRequest(
                libraryPath: "/lib/libC.so", entryPoint: "on_push", taskName: "T", taskId: "", instanceId: "", triggerId: "",
                attempt: 1, triggerKind: 1, cSignature: CSignature(returnType: .void, parameters: [.payload, .host]))),
        .check(libraryPath: "/lib/libC.so", entryPoints: [], symbols: ["on_push", "on_timer"]),
        .cancel(reason: 9),
        .reply(requestId: 7, status: 0, data: Array(repeating: 42, count: 70_000)),
    ]

    static let workerMessages: [WorkerMessage] = [
        .ready(sdkVersion: "0.1.0", buildSignature: "sdk=0.1.0"),
        .log("line with ünïcode"),
        .progress(100),
        .settingsGet(requestId: 1, key: "k"),
        .settingsSet(requestId: 2, key: "k", value: [1, 2, 3]),
        .settingsDelete(requestId: 3, key: "k"),
        .settingsKeys(requestId: 4),
        .result(.canceled, message: "ExecutionTimeExceeded"),
        .checkResult(
            abiVersion: 1, sdkVersion: "0.1.0", buildSignature: "s",
            reports: [
                EntryPointReport(entryPoint: "A.B", code: 0, message: "ok"),
                EntryPointReport(entryPoint: "A.C", code: 3, message: "is not a final class"),
            ]),
    ]

    @Test(arguments: hostMessages)
    func hostMessagesRoundTrip(_ message: HostMessage) throws {
        #expect(try HostMessage(frame: message.frame) == message)
        var decoder = FrameDecoder()
        decoder.append(message.frame.encoded)
        #expect(try decoder.next() == message.frame)
        #expect(try decoder.next() == nil)
    }

    @Test(arguments: workerMessages)
    func workerMessagesRoundTrip(_ message: WorkerMessage) throws {
        #expect(try WorkerMessage(frame: message.frame) == message)
    }

    @Test func framesSurviveAnySplitOfTheStream() throws {
        let stream = Self.workerMessages.flatMap { $0.frame.encoded }
        for chunk in [1, 2, 3, 7, 64, stream.count] {
            var decoder = FrameDecoder()
            var decoded: [WorkerMessage] = []
            var offset = 0
            while offset < stream.count {
                decoder.append(stream[offset..<min(offset + chunk, stream.count)])
                offset += chunk
                while let frame = try decoder.next() { decoded.append(try WorkerMessage(frame: frame)) }
            }
            try decoder.finish()
            #expect(decoded == Self.workerMessages, "chunk size \(chunk)")
        }
    }

    @Test func aStreamThatEndsMidFrameIsAnError() throws {
        var decoder = FrameDecoder()
        decoder.append(WorkerMessage.log("hello").frame.encoded.dropLast(2))
        #expect(try decoder.next() == nil)
        #expect(throws: IPCError.closedMidFrame(buffered: 12)) { try decoder.finish() }
    }

    @Test func oversizedAndEmptyFramesAreRefusedFromTheirHeader() {
        var decoder = FrameDecoder(maxBodySize: 1024)
        decoder.append([0x01, 0x04, 0x00, 0x00])  // declares 1025 bytes
        #expect(throws: IPCError.frameTooLarge(size: 1025, limit: 1024)) { try decoder.next() }
        var empty = FrameDecoder()
        empty.append([0, 0, 0, 0])
        #expect(throws: IPCError.emptyFrame) { try empty.next() }
    }

    @Test func garbageFramesAreErrors() {
        #expect(throws: IPCError.unknownMessage(200)) { try WorkerMessage(frame: Frame(type: 200, payload: [])) }
        #expect(throws: IPCError.unknownMessage(64)) { try HostMessage(frame: Frame(type: 64, payload: [])) }
        #expect(throws: IPCError.truncated("progress")) { try WorkerMessage(frame: Frame(type: 66, payload: [1, 2])) }
        #expect(throws: IPCError.truncated("line")) { try WorkerMessage(frame: Frame(type: 65, payload: [9, 0, 0, 0, 65])) }
        #expect(throws: IPCError.invalidUTF8("line")) { try WorkerMessage(frame: Frame(type: 65, payload: [1, 0, 0, 0, 0xFF])) }
        #expect(throws: IPCError.invalidValue("run result 9")) {
            try WorkerMessage(frame: Frame(type: 71, payload: [9, 0, 0, 0, 0, 0, 0, 0]))
        }
        #expect(throws: IPCError.trailingBytes("progress", 1)) {
            try WorkerMessage(frame: Frame(type: 66, payload: [1, 0, 0, 0, 0]))
        }
        #expect(throws: IPCError.truncated("reports")) {
            var writer = ByteWriter()
            writer.u32(1)
            writer.string("s")
            writer.string("s")
            writer.u32(UInt32.max)
            return try WorkerMessage(frame: Frame(type: 72, payload: writer.bytes))
        }
    }

    @Test func randomBytesNeverCrashTheDecoder() {
        var generator = SeededGenerator(seed: 0x7A5C_0057)
        for _ in 0..<2_000 {
            let count = Int.random(in: 0..<64, using: &generator)
            let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            var decoder = FrameDecoder(maxBodySize: 4096)
            decoder.append(bytes)
            while let frame = try? decoder.next() {
                _ = try? WorkerMessage(frame: frame)
                _ = try? HostMessage(frame: frame)
            }
        }
    }
}
