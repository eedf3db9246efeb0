import TaskHostManifest

/// The conditions of this Linux host, as `taskhost serve` and `taskhost
/// doctor` observe them: one probe per fact, read by a ``ConditionPoller``
/// thread (`taskhost-conditions`), the routes also at each netlink event and
/// the sessions at each inotify event of their directory.
package struct SystemConditions: Sendable {
    /// The state directory (`FreeStorage` reads its filesystem).
    package var stateDirectory: String
    /// Least free space for `FreeStorage` (`--min-free-storage`, default 1 GiB).
    package var minimumFreeBytes: UInt64 = SystemConditions.defaultMinimumFreeBytes
    /// `HOST:PORT` that must accept a TCP connection for `InternetAvailable` (`--internet-probe`).
    package var internetProbe: String?
    /// logind's sessions directory.
    package var sessions = "/run/systemd/sessions"

    /// 1 GiB.
    package static let defaultMinimumFreeBytes: UInt64 = 1 << 30

    /// Creates a configuration.
    package init(stateDirectory: String, minimumFreeBytes: UInt64 = SystemConditions.defaultMinimumFreeBytes, internetProbe: String? = nil)
    {
        self.stateDirectory = stateDirectory
        self.minimumFreeBytes = minimumFreeBytes
        self.internetProbe = internetProbe
    }

    /// One probe per fact, in ``ConditionFact`` order.
    package var probes: [any FactProbe] {
        [
            InternetProbe(reachability: internetProbe), SessionProbe(.userPresent, directory: sessions),
            SessionProbe(.sessionConnected, directory: sessions), WorkCostProbe(),
            FreeStorageProbe(path: stateDirectory, minimumBytes: minimumFreeBytes),
        ]
    }

    /// A monitor of every fact; its ``ConditionMonitor/start()`` reads them all
    /// once and starts the thread, ``ConditionMonitor/stop()`` ends it.
    package func monitor() -> ConditionMonitor {
        let facts = probes.map(PolledFact.init)
        let sources: [(any FactEvents)?] = [RouteEvents.open(), SessionEvents.open(directory: sessions)]
        let events = sources.compactMap { $0 }
        let poller = ConditionPoller(facts: facts, events: events)
        return ConditionMonitor(observers: facts, start: { poller.start() }, stop: { poller.stop() })
    }
}
