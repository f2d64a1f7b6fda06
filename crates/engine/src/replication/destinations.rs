//! Keeps one data processor per location while locations come and go: a
//! location added through the admin API gets its processor at once, one
//! removed (or replaced by another backend) has its processor stopped, and
//! a new processor never starts before the old one of its topic has ended,
//! so two never share a consumer group.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use strata_data::DataBackend;
use tokio::sync::watch;

use super::{DataProcessor, Replication};
use crate::Result;
use crate::worker::{Worker, WorkerState, Workers};

/// How often a stopped processor is looked at until it has ended.
const STOPPING_POLL: Duration = Duration::from_millis(100);

/// How `Destinations` ends one of its processors: it asks, and the
/// processor stops at its next unit of work and says so.
#[derive(Default)]
pub struct Lifeline {
    stop: AtomicBool,
    ended: AtomicBool,
}

impl Lifeline {
    fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    pub(crate) fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    pub(crate) fn end(&self) {
        self.ended.store(true, Ordering::SeqCst);
    }

    fn ended(&self) -> bool {
        self.ended.load(Ordering::SeqCst)
    }
}

struct Running {
    /// The backend the processor was started for.
    backend: Arc<dyn DataBackend>,
    lifeline: Arc<Lifeline>,
}

pub struct Destinations {
    replication: Arc<Replication>,
    workers: Workers,
    changes: watch::Receiver<u64>,
    running: BTreeMap<String, Running>,
}

impl Destinations {
    pub fn new(replication: Arc<Replication>, workers: Workers) -> Self {
        let changes = replication.strata.locations.changes();
        Self {
            replication,
            workers,
            changes,
            running: BTreeMap::new(),
        }
    }
}

#[async_trait::async_trait]
impl Worker for Destinations {
    fn name(&self) -> String {
        "replication-destinations".into()
    }

    async fn work(&mut self) -> Result<WorkerState> {
        self.changes.borrow_and_update();
        let current: BTreeMap<_, _> = self
            .replication
            .strata
            .locations
            .all()
            .into_iter()
            .collect();
        for (name, running) in &self.running {
            let registered = current
                .get(name)
                .is_some_and(|l| Arc::ptr_eq(&l.backend, &running.backend));
            if !registered {
                running.lifeline.stop();
            }
        }
        // A stopped processor keeps its place until it has ended.
        self.running.retain(|_, r| !r.lifeline.ended());
        for (name, location) in current {
            if !self.running.contains_key(&name) {
                let lifeline = Arc::new(Lifeline::default());
                self.workers.spawn(DataProcessor::new(
                    self.replication.clone(),
                    &name,
                    location.backend.clone(),
                    lifeline.clone(),
                ));
                let backend = location.backend;
                self.running.insert(name, Running { backend, lifeline });
            }
        }
        Ok(WorkerState::Idle)
    }

    async fn wait_for_work(&mut self) {
        if self.running.values().any(|r| r.lifeline.stopped()) {
            let _ = tokio::time::timeout(STOPPING_POLL, self.changes.changed()).await;
        } else if self.changes.changed().await.is_err() {
            // The registry is gone: nothing will ever change again.
            std::future::pending::<()>().await;
        }
    }

    fn progress(&self) -> String {
        let stopping = self
            .running
            .values()
            .filter(|r| r.lifeline.stopped())
            .count();
        format!(
            "{} destinations, {stopping} stopping",
            self.running.len() - stopping
        )
    }
}
