//! The one interface every background loop implements (do a unit of work,
//! wait for more, say how far it got) and the registry that runs them, lists
//! them and stops them on shutdown. It knows nothing of what the work is.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;

use crate::Result;
use crate::runtime::Tasks;

/// What a worker says after a unit of work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkerState {
    /// More work is waiting: go on at once.
    Busy,
    /// Nothing to do until `wait_for_work` returns.
    Idle,
    /// Held by an operator; waits like Idle.
    Paused,
    /// Finished for good (a one-off job such as a backfill).
    Done,
}

#[async_trait::async_trait]
pub trait Worker: Send + 'static {
    fn name(&self) -> String;
    /// One unit of work. An error is logged and retried after a pause.
    async fn work(&mut self) -> Result<WorkerState>;
    /// Returns when there may be work again (or after a while: polling is fine).
    async fn wait_for_work(&mut self);
    /// A line on how far the worker got, for listings.
    fn progress(&self) -> String;
    /// Runs once after the worker's last unit of work, when the engine
    /// stops or the worker is done: saves what a restart would otherwise
    /// redo (a crash skips it, which the worker must allow anyway).
    async fn stop(&mut self) -> Result<()> {
        Ok(())
    }
}

impl WorkerState {
    /// Busy when a unit of work handled anything, else Idle.
    pub fn after(handled: usize) -> Self {
        if handled > 0 {
            WorkerState::Busy
        } else {
            WorkerState::Idle
        }
    }
}

/// A worker as listings show it.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerStatus {
    pub name: String,
    pub state: WorkerState,
    pub progress: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub errors: u64,
}

/// Pause after a failed unit of work, doubling up to a minute.
const ERROR_PAUSE: Duration = Duration::from_millis(500);
const MAX_ERROR_PAUSE: Duration = Duration::from_secs(60);

/// The running workers, on the engine's own runtime (see `runtime`).
/// Dropping it does not stop them: `stop` does.
#[derive(Clone)]
pub struct Workers {
    statuses: Arc<Mutex<BTreeMap<String, WorkerStatus>>>,
    stop: watch::Receiver<bool>,
    tasks: Tasks,
    runtime: tokio::runtime::Handle,
    /// Turns true once the runtime has shut down.
    finished: watch::Receiver<bool>,
}

impl Workers {
    /// Workers that stop once `stop` turns true.
    pub fn new(stop: watch::Receiver<bool>) -> std::io::Result<Self> {
        let tasks = Tasks::default();
        let (runtime, finished) = crate::runtime::start(stop.clone(), tasks.clone())?;
        Ok(Self {
            statuses: Arc::default(),
            runtime,
            stop,
            tasks,
            finished,
        })
    }

    pub fn spawn(&self, mut worker: impl Worker) {
        let name = worker.name();
        let statuses = self.statuses.clone();
        let mut stop = self.stop.clone();
        let set = move |update: &dyn Fn(&mut WorkerStatus)| {
            if let Ok(mut all) = statuses.lock() {
                let entry = all.entry(name.clone()).or_insert_with(|| WorkerStatus {
                    name: name.clone(),
                    state: WorkerState::Idle,
                    progress: String::new(),
                    last_error: None,
                    errors: 0,
                });
                update(entry);
            }
        };
        set(&|_| {});
        let handle = self.runtime.spawn(async move {
            let mut pause = ERROR_PAUSE;
            while !*stop.borrow() {
                let outcome = tokio::select! {
                    outcome = worker.work() => outcome,
                    _ = stop.changed() => break,
                };
                let progress = worker.progress();
                let state = match outcome {
                    Ok(state) => {
                        pause = ERROR_PAUSE;
                        set(&|s| {
                            s.state = state;
                            s.progress.clone_from(&progress);
                        });
                        state
                    }
                    Err(e) => {
                        tracing::warn!(worker = %worker.name(), error = %e, "background work failed; retrying");
                        let message = e.to_string();
                        set(&|s| {
                            s.errors += 1;
                            s.last_error = Some(message.clone());
                            s.progress.clone_from(&progress);
                        });
                        tokio::select! {
                            _ = tokio::time::sleep(pause) => {}
                            _ = stop.changed() => break,
                        }
                        pause = (pause * 2).min(MAX_ERROR_PAUSE);
                        continue;
                    }
                };
                match state {
                    WorkerState::Busy => tokio::task::yield_now().await,
                    WorkerState::Done => break,
                    WorkerState::Idle | WorkerState::Paused => tokio::select! {
                        _ = worker.wait_for_work() => {}
                        _ = stop.changed() => break,
                    },
                }
            }
            if let Err(e) = worker.stop().await {
                tracing::warn!(worker = %worker.name(), error = %e, "background work failed to stop cleanly");
            }
        });
        if let Ok(mut tasks) = self.tasks.lock() {
            tasks.retain(|t| !t.is_finished());
            tasks.push(handle);
        }
    }

    /// Every worker, by name.
    pub fn list(&self) -> Vec<WorkerStatus> {
        self.statuses
            .lock()
            .map(|all| all.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Waits for every worker to end and the runtime to shut down (after
    /// the stop signal).
    pub async fn join(&self) {
        let mut finished = self.finished.clone();
        let _ = finished.wait_for(|done| *done).await;
    }
}
