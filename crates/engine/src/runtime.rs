//! The runtime background work runs on: threads of its own, at a lower CPU
//! priority than request handling, so a busy engine takes the CPU the S3
//! path leaves rather than slowing it (replication must never slow PUTs).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How much nicer than request threads the engine's threads are (0..19):
/// the most, since at 500 PUT/s replication keeps up even then, and 19
/// took a third off what replication adds to PUT latency against 10
/// (docs/performance.md).
const NICENESS: i32 = 19;
/// How long a stopping runtime waits for work still under way.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The tasks the runtime waits for before it shuts down.
pub(crate) type Tasks = Arc<Mutex<Vec<JoinHandle<()>>>>;

/// Starts the background runtime; its threads are named `strata-engine`.
/// Once `stop` turns true (or its sender goes) it waits for `tasks` to end
/// (they see the same signal, then save what they must: `Worker::stop`),
/// up to `SHUTDOWN_GRACE`, shuts down, and turns the returned receiver true.
pub fn start(
    mut stop: watch::Receiver<bool>,
    tasks: Tasks,
) -> std::io::Result<(Handle, watch::Receiver<bool>)> {
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("strata-engine")
        .on_thread_start(lower_priority)
        .enable_all()
        .build()?;
    let handle = runtime.handle().clone();
    let (finished, finished_rx) = watch::channel(false);
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
                // Shutting down drops tasks at their next await, which
                // would cut a worker's `stop` short.
                let _ = tokio::time::timeout(SHUTDOWN_GRACE, wait_for(&tasks)).await;
            });
            runtime.shutdown_timeout(SHUTDOWN_GRACE);
            let _ = finished.send(true);
        })?;
    Ok((handle, finished_rx))
}

/// Waits until every task in `tasks` has ended, those spawned meanwhile too.
async fn wait_for(tasks: &Tasks) {
    loop {
        let running: Vec<_> = match tasks.lock() {
            Ok(mut tasks) => tasks.drain(..).collect(),
            Err(_) => return,
        };
        if running.is_empty() {
            return;
        }
        for task in running {
            let _ = task.await;
        }
    }
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
