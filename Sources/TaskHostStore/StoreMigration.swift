/// The store's schema versions, numbered in one place for every backend:
/// each backend's schema file applies them in this order, one transaction
/// each, and records the ``name`` of each it applied (SQLite: GRDB's
/// `grdb_migrations` table), so that a database made by an older taskhost
/// is brought up to date at its next open, and never migrated twice.
///
/// A schema change is a new case at the end, never an edit of an existing
/// one (databases in the field have applied it already). A backend's
/// schema switches over every case, so the compiler refuses a backend that
/// lacks one.
package enum StoreMigration: Int, CaseIterable, Sendable {
    /// Settings, the instance history and its logs.
    case history = 1
    /// The trigger queue, push channels, credentials and timer anchors.
    case queue = 2
    /// The sandbox summary of each instance.
    case sandbox = 3
    /// The plugins of the drop-in directory, and each instance's app version.
    case plugins = 4
    /// The claim's partial indexes over runnable and expiring triggers.
    case queueIndexes = 5
    /// One index over (state, app, task) instead of two.
    case oneStateIndex = 6
    /// Tasks disabled after too many crashes.
    case disabledTasks = 7
    /// Which process supervises each unfinished instance.
    case instanceSupervisor = 8
    /// Parked triggers expire too.
    case parkedTriggersExpire = 9
    /// Replays: which instance a trigger and an instance repeat.
    case replays = 10
    /// Web Push subscriptions, and the queue's topics.
    case webPush = 11
    /// A partial index over settled triggers, for pruning (`--keep-done`).
    case settledIndex = 12
    /// Triggers waiting for their task's conditions (the `waiting` state) expire too.
    case waitingTriggers = 13
    /// Foreground listeners (issue 18): the `claimed` state (settled, so in
    /// the pruning index) and each credential's scope (push or listen).
    case listenClaims = 14

    /// The migration's identifier, as databases record it (`v1`, `v2-queue`, …).
    package var name: String {
        switch self {
        case .history: "v1"
        case .queue: "v2-queue"
        case .sandbox: "v3-sandbox"
        case .plugins: "v4-plugins"
        case .queueIndexes: "v5-queue-indexes"
        case .oneStateIndex: "v6-one-state-index"
        case .disabledTasks: "v7-disabled-tasks"
        case .instanceSupervisor: "v8-instance-supervisor"
        case .parkedTriggersExpire: "v9-parked-triggers-expire"
        case .replays: "v10-replays"
        case .webPush: "v11-webpush"
        case .settledIndex: "v12-settled-index"
        case .waitingTriggers: "v13-waiting-triggers"
        case .listenClaims: "v14-listen-claims"
        }
    }
}
