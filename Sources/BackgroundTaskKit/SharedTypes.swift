// The types the host and the SDK share (setting values, cancellation reasons,
// build info) live in `TaskHostShared`, so that the host does not link the SDK.
// Plugin authors still get them from `import BackgroundTaskKit`.
@_exported import TaskHostShared
