/// The environment a worker process runs with: nothing of the host's but
/// these variables, so that secrets in the host's environment never reach
/// plugin code. The host builds it (``variables(instanceId:)``) and the
/// worker checks its own against ``names`` before it loads plugin code.
package enum WorkerEnvironment {
    /// The variable that carries the instance's id (`zygote`, `probe` or
    /// `inspect` in the host's own helper processes).
    package static let instanceIdName = "TASKHOST_INSTANCE_ID"

    /// The variables whose value is the same for every worker, in order.
    package static let fixed: [(name: String, value: String)] = [
        ("PATH", "/usr/local/bin:/usr/bin:/bin"),
        ("LANG", "C.UTF-8"),
    ]

    /// Every variable a worker may see.
    package static let names: [String] = fixed.map(\.name) + [instanceIdName]

    /// The worker's environment, as `NAME=value` entries.
    package static func variables(instanceId: String) -> [String] {
        fixed.map { "\($0.name)=\($0.value)" } + ["\(instanceIdName)=\(instanceId)"]
    }
}
