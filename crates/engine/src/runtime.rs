//! The runtime background work runs on: threads of its own, at a lower CPU
//! priority than request handling, so a busy engine takes the CPU the S3
//! path leaves rather than slowing it (replication must never slow PUTs).

use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::watch;

/// How much nicer than request threads the engine's threads are (0..19):
/// the most, since at 500 PUT/s replication keeps up even then, and 19
/// took a third off what replication adds to PUT latency against 10
/// (docs/performance.md).
const NICENESS: i32 = 19;
/// How long a stopping runtime waits for work still under way.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Starts the background runtime; it shuts down once `stop` turns true (or
/// its sender goes). Its threads are named `strata-engine`.
pub fn start(mut stop: watch::Receiver<bool>) -> std::io::Result<Handle> {
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("strata-engine")
        .on_thread_start(lower_priority)
        .enable_all()
        .build()?;
    let handle = runtime.handle().clone();
    // The runtime lives on a thread of its own: dropping it from async code
    // (where the engine is started and stopped) is not allowed.
    std::thread::Builder::new()
        .name("strata-engine-rt".into())
        .spawn(move || {
            runtime.block_on(async {
                while !*stop.borrow() {
                    if stop.changed().await.is_err() {
                        break;
                    }
                }
            });
            runtime.shutdown_timeout(SHUTDOWN_GRACE);
        })?;
    Ok(handle)
}

/// Lowers the calling thread's CPU priority to the engine's.
pub(crate) fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority only reads its arguments; with PRIO_PROCESS and a
    // thread id, Linux changes that thread alone. Failing is harmless (the
    // thread keeps the normal priority), so the result is not checked.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, NICENESS);
    }
}
