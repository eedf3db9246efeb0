import ArgumentParser
import TaskHostConditions

/// How the host observes the conditions tasks require (`serve`, `doctor`).
struct ConditionOptions: ParsableArguments {
    @Option(
        name: .customLong("internet-probe"),
        help: ArgumentHelp(
            "HOST:PORT that must accept a TCP connection (within 3 s) for InternetAvailable to hold, besides a default route.",
            discussion: "Default: none (a default route is enough). Checked every 30 s and at each route change.",
            valueName: "host:port"))
    var internetProbe: String?
    @Option(
        name: .customLong("min-free-storage"),
        help: ArgumentHelp(
            "Free space (MiB) the state directory's filesystem needs for FreeStorage to hold.", discussion: "Default: 1024.",
            valueName: "MiB"))
    var minFreeStorage: UInt64 = SystemConditions.defaultMinimumFreeBytes >> 20

    func validate() throws {
        if let internetProbe, internetProbe.lastIndex(of: ":").flatMap({ UInt16(internetProbe[internetProbe.index(after: $0)...]) }) == nil
        {
            throw ValidationError("--internet-probe \"\(internetProbe)\" is not HOST:PORT (e.g. example.com:443)")
        }
    }

    /// The conditions of this host, the state directory being `state`.
    func system(state: String) -> SystemConditions {
        SystemConditions(stateDirectory: state, minimumFreeBytes: minFreeStorage << 20, internetProbe: internetProbe)
    }
}
