package import Foundation

/// A queue that several hosts share (PostgreSQL): what each host must do for
/// its claims to hold, and for others to know what it runs.
///
/// A claim on such a store is a lease of ``leaseDuration``: the host that holds
/// it extends it (``extendLeases(now:)``) while the instance runs, and another
/// host claims the trigger again once it runs out (its host died, froze or lost
/// the network). The host also says, with a heartbeat, that it is alive and
/// which tasks it runs; the store then claims for it only triggers of those
/// tasks. SQLite's store does not conform: one host owns its database (the
/// state directory's host lock), and its claims never run out.
package protocol SharedQueueStore: Sendable {
    /// This host's id in the shared store (`claimed_by` on the triggers it holds).
    var hostId: String { get }

    /// How long a claim holds without being extended.
    var leaseDuration: Duration { get }

    /// Records this host as alive at `now`, named `name`, running `tasks`
    /// (`app/task`, the tasks loaded and enabled here), and restricts this store
    /// object's later claims to those tasks.
    func heartbeat(name: String, tasks: [String], now: Date) throws(StoreError)

    /// Restricts this store object's later claims to triggers of `tasks`
    /// (`app/task`) without writing anything: the host calls it whenever the
    /// tasks it has loaded change, before it claims.
    func restrictClaims(to tasks: [String])

    /// Extends the lease of every trigger this store object holds; returns the
    /// ids of those it no longer holds (another host took them over after the
    /// lease ran out): their outcomes will not be recorded by this host.
    func extendLeases(now: Date) throws(StoreError) -> [String]
}
