package import Foundation

/// Claims by foreground listeners (`GET /listen/v1/APP`, issue 18): an app
/// that is running sees its pushes live and may handle one itself, in which
/// case no instance runs for it.
package protocol ListenerClaimStore: Sendable {
    /// Settles the push trigger `id` of `app` as ``TriggerState/claimed`` if it
    /// is still pending: not yet claimed by a host's dispatcher (running), nor
    /// by another listener, nor settled. One conditional UPDATE
    /// (`… WHERE state = 'pending'`), so of several claims the first wins,
    /// and a dispatcher's claim and a listener's exclude each other on every
    /// backend. Returns whether this call claimed it (`false`: unknown id,
    /// another app's trigger, not a push, or no longer pending).
    func claimForListener(id: String, app: String, at now: Date) throws(StoreError) -> Bool
}

extension TriggerState {
    /// The states a trigger leaves the queue's work in for good: pruned after
    /// `--keep-done` (`done`, `dead`, `expired`, `claimed`).
    package static let settled: [TriggerState] = [.done, .dead, .expired, .claimed]
}
