import BackgroundTaskKit
public let y = 1
