import Foundation
import Glibc
import TaskHostManifest
import TaskHostTestSupport
import Testing

@testable import TaskHostConditions

/// What each condition reads on Linux, from files a test writes, and the
/// monitor over them: values, unmet conditions, and changes.
@Suite struct ConditionProbeTests {
    func directory(_ files: [String: String]) throws -> String {
        let root = TestSupport.temporaryDirectory()
        for (path, text) in files {
            let url = URL(fileURLWithPath: root + "/" + path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        return root
    }

    let routeHeader = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
    /// The IPv6 table of a namespace without routes: only the reject route `::/0` on `lo`.
    let ipv6Reject =
        "00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n"

    @Test func internetNeedsADefaultRouteThatIsUpAndNotAReject() throws {
        let none = try directory([
            "route": routeHeader + "eth0\t0011A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n", "ipv6_route": ipv6Reject,
        ])
        let reading = InternetProbe(procNet: none).read()
        #expect(reading.value == false)
        #expect(reading.detail == "no default route in \(none)/route or \(none)/ipv6_route")
        let ipv4 = try directory(["route": routeHeader + "eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"])
        #expect(InternetProbe(procNet: ipv4).read() == FactReading(value: true, detail: "default route via eth0 (IPv4)"))
        let down = try directory(["route": routeHeader + "eth0\t00000000\t0101A8C0\t0002\t0\t0\t100\t00000000\t0\t0\t0\n"])
        #expect(InternetProbe(procNet: down).read().value == false, "a route that is not up")
        let ipv6 = try directory([
            "route": routeHeader,
            "ipv6_route":
                "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00450003     eth1\n",
        ])
        #expect(InternetProbe(procNet: ipv6).read() == FactReading(value: true, detail: "default route via eth1 (IPv6)"))
    }

    @Test func internetWithAReachabilityTargetNeedsItToAnswer() throws {
        let ipv4 = try directory(["route": routeHeader + "eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"])
        // A port nothing listens on: refused at once.
        let reading = InternetProbe(procNet: ipv4, reachability: "127.0.0.1:1").read()
        #expect(reading.value == false)
        #expect(reading.detail.hasPrefix("default route via eth0 (IPv4), but 127.0.0.1:1 is not reachable: "), "\(reading.detail)")
        #expect(InternetProbe.connect("no-port", timeout: .seconds(1)) == "\"no-port\" is not HOST:PORT")
    }

    @Test func sessionsComeFromLogindsFiles() throws {
        let sessions = try directory([
            "3": "UID=1000\nUSER=ann\nACTIVE=1\nSTATE=active\nIDLE_HINT=yes\n",
            "5": "UID=1001\nUSER=bob\nACTIVE=0\nSTATE=online\nIDLE_HINT=no\n",
            "7.ref": "",
        ])
        #expect(SessionProbe(.sessionConnected, directory: sessions).read().value == true)
        #expect(
            SessionProbe(.userPresent, directory: sessions).read().value == false, "the active one is idle, the other in the background")
        try "UID=1000\nUSER=ann\nACTIVE=1\nSTATE=active\nIDLE_HINT=no\n".write(toFile: sessions + "/3", atomically: true, encoding: .utf8)
        #expect(
            SessionProbe(.userPresent, directory: sessions).read() == FactReading(value: true, detail: "active, non-idle session 3 (ann)"))
        let closing = try directory(["9": "USER=cy\nACTIVE=1\nSTATE=closing\n"])
        #expect(SessionProbe(.sessionConnected, directory: closing).read().value == false)
        let missing = SessionProbe(.userPresent, directory: "/nonexistent/sessions").read()
        #expect(missing.value == nil, "no logind: not observable")
    }

    @Test func workCostReadsLoadPressureAndBattery() throws {
        let calm = try directory([
            "proc/loadavg": "0.50 0.40 0.30 1/100 123\n",
            "proc/pressure/cpu": "some avg10=3.00 avg60=2.00 avg300=1.00 total=1\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
            "proc/pressure/memory": "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
            "power/AC/type": "Mains\n", "power/BAT0/type": "Battery\n", "power/BAT0/status": "Charging\n",
        ])
        let probe = WorkCostProbe(proc: calm + "/proc", powerSupply: calm + "/power", cores: 2)
        #expect(probe.read().value == true, "\(probe.read().detail)")
        try "Discharging\n".write(toFile: calm + "/power/BAT0/status", atomically: true, encoding: .utf8)
        #expect(probe.read() == FactReading(value: false, detail: "on battery (BAT0 discharging)"))
        let busy = try directory([
            "proc/loadavg": "4.00 1.00 1.00 1/100 123\n", "proc/pressure/memory": "some avg10=25.00 avg60=2.00 avg300=1.00 total=1\n",
        ])
        let reading = WorkCostProbe(proc: busy + "/proc", powerSupply: busy + "/none", cores: 2).read()
        #expect(reading.value == false)
        #expect(reading.detail == "load 4.00 on 2 core(s) (above 1.5 per core), memory pressure 25.00 % (at least 20.00 %)")
    }

    @Test func freeStorageComparesTheStateDirectorysFreeSpaceWithTheMinimum() throws {
        let state = TestSupport.temporaryDirectory()
        #expect(FreeStorageProbe(path: state, minimumBytes: 0).read().value == true)
        #expect(FreeStorageProbe(path: state, minimumBytes: UInt64.max).read().value == false)
        #expect(FreeStorageProbe(path: state + "/missing", minimumBytes: 0).read().value == nil)
    }

    @Test func theMonitorSaysWhatDoesNotHoldAndAnnouncesChanges() async throws {
        let internet = DrivenCondition(.internet, value: false)
        let sessions = DrivenCondition(.sessionConnected, value: true)
        let monitor = ConditionMonitor(observers: [internet, sessions])
        #expect(
            monitor.unmet([.internetAvailable, .sessionConnected, .freeStorage]).map(\.description) == [
                "InternetAvailable (driven: false)", "FreeStorage (cannot be observed on this host: not observed by this host)",
            ])
        #expect(monitor.hold([.internetNotAvailable, .sessionConnected]))
        #expect(monitor.hold([]))
        let generation = monitor.generation
        var changes = internet.changes().makeAsyncIterator()
        internet.set(false)  // the same value: no change
        internet.set(true)
        #expect(await changes.next()?.value == true)
        #expect(monitor.generation == generation + 1)
        #expect(monitor.hold([.internetAvailable]))
    }

    @Test func aSessionFileWrittenWakesTheInotifyWatch() throws {
        let sessions = try directory([:])
        let events = try #require(SessionEvents.open(directory: sessions))
        defer { events.close() }
        #expect(!events.drain(), "nothing happened yet")
        try "STATE=active\n".write(toFile: sessions + "/4", atomically: true, encoding: .utf8)
        var entry = pollfd(fd: events.descriptor, events: Int16(POLLIN), revents: 0)
        #expect(poll(&entry, 1, 30_000) == 1, "readable (30 s: a deadline against a hang)")
        #expect(events.drain())
        #expect(!events.drain(), "drained")
        #expect(SessionEvents.open(directory: "/nonexistent/sessions") == nil)
    }

    @Test func theSystemMonitorReadsOnItsThreadAndSeesASessionAppear() async throws {
        var system = SystemConditions(stateDirectory: TestSupport.temporaryDirectory(), minimumFreeBytes: 0)
        system.sessions = try directory([:])
        let monitor = system.monitor()
        monitor.start()
        defer { monitor.stop() }
        #expect(await TestSupport.eventually(timeout: .seconds(30)) { monitor.reading(.sessionConnected).value == false })
        #expect(monitor.hold([.freeStorage, .sessionDisconnected]))
        let generation = monitor.generation
        try "USER=ann\nACTIVE=1\nSTATE=active\n".write(toFile: system.sessions + "/4", atomically: true, encoding: .utf8)
        #expect(await TestSupport.eventually(timeout: .seconds(30)) { monitor.hold([.sessionConnected, .userPresent]) })
        #expect(monitor.generation > generation)
    }
}
