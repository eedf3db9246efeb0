import TaskHostTestSupport

/// `Process` in this test target is the tests' `posix_spawn` helper,
/// ``ChildProcess``, not Foundation's (whose `run()` in Swift 6.3.1 can
/// over-read a buffer and crash the test process). Code written against
/// `Process` (`Process()`, `-> Process`, `TaskhostCommand.start`) compiles
/// unchanged, as `ChildProcess` keeps `Process`'s names; new code names
/// `ChildProcess`. `Foundation.Process` is never meant.
typealias Process = ChildProcess
