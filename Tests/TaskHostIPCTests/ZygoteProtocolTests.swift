import Testing

@testable import TaskHostIPC

/// The host↔zygote control protocol: every reply survives its encoding, the
/// wire values are the ones both sides have always used, and a reply of the
/// wrong length or a 0 is no reply.
@Suite struct ZygoteProtocolTests {
    @Test(arguments: [
        ZygoteProtocol.ForkReply.forked(pid: 1), .forked(pid: 4_194_304), .forked(pid: Int32.max),
        .failed(errno: 11), .failed(errno: 12), .failed(errno: 22), .notSingleThreaded,
    ])
    func replyRoundTrips(_ reply: ZygoteProtocol.ForkReply) {
        #expect(reply.encoded.count == ZygoteProtocol.ForkReply.size)
        #expect(ZygoteProtocol.ForkReply(bytes: reply.encoded) == reply)
        #expect(ZygoteProtocol.ForkReply(wireValue: reply.wireValue) == reply)
    }

    @Test func wireLayoutIsLittleEndianInt32() {
        #expect(ZygoteProtocol.ForkReply.forked(pid: 0x0102_0304).encoded == [4, 3, 2, 1])
        // A failed fork is the negated errno; EAGAIN (11) is -11.
        #expect(ZygoteProtocol.ForkReply.failed(errno: 11).encoded == [0xF5, 0xFF, 0xFF, 0xFF])
        #expect(ZygoteProtocol.ForkReply(bytes: [0x60, 0x79, 0xFE, 0xFF]) == .notSingleThreaded)  // -100_000
    }

    @Test func malformedRepliesAreRejected() {
        #expect(ZygoteProtocol.ForkReply(bytes: []) == nil)
        #expect(ZygoteProtocol.ForkReply(bytes: [1, 0, 0]) == nil)
        #expect(ZygoteProtocol.ForkReply(bytes: [1, 0, 0, 0, 0]) == nil)
        #expect(ZygoteProtocol.ForkReply(bytes: [0, 0, 0, 0]) == nil)
        #expect(ZygoteProtocol.ForkReply(wireValue: 0) == nil)
    }

    @Test func requestAndHandOverBytesDiffer() {
        // The values the worker and the host of any build agree on.
        #expect(ZygoteProtocol.forkRequest != ZygoteProtocol.handOverByte)
        #expect(ZygoteProtocol.forkDescriptorCount == 3)
        #expect(ZygoteProtocol.argument == "--zygote")
    }
}
