import Glibc
import NIOCore
import Testing

@testable import TaskHostServer

/// The daemon's start errors are recognised by their `errno`, never by their
/// text, and keep the error underneath.
@Suite struct DaemonErrorTests {
    @Test(arguments: [
        (EADDRINUSE, DaemonError.Code.addressInUse, "the address is in use"),
        (EADDRNOTAVAIL, .addressNotAvailable, "not one of this machine's"),
        (EACCES, .permissionDenied, "permission denied"),
    ])
    func aBindErrorGetsItsCode(_ errno: Int32, _ code: DaemonError.Code, _ words: String) throws {
        let error = try #require(DaemonError(listening: IOError(errnoCode: errno, reason: "bind"), host: "127.0.0.1", port: 8080))
        #expect(error.code == code)
        #expect(error.errno == errno)
        #expect((error.underlying as? IOError)?.errnoCode == errno)
        #expect(error.description.hasPrefix("cannot listen on 127.0.0.1:8080: "))
        #expect(error.description.contains(words))
    }

    struct Impostor: Error, CustomStringConvertible {
        var description: String { "bind(descriptor:ptr:bytes:): Address already in use (errno: 98)" }
    }

    @Test func anErrorIsNotRecognisedByItsText() {
        #expect(DaemonError(listening: Impostor(), host: "127.0.0.1", port: 8080) == nil)
        #expect(DaemonError(listening: IOError(errnoCode: EIO, reason: "Address already in use"), host: "::1", port: 1) == nil)
    }
}
