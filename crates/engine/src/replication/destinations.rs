//! Keeps one data processor per location while locations come and go: a
//! location added through the admin API gets its processor at once, one
//! removed loses it, and one removed and added again gets a fresh one.

use std::collections::BTreeMap;
use std::sync::Arc;

use strata_data::DataBackend;
use tokio::sync::watch;

use super::{DataProcessor, Replication};
use crate::Result;
use crate::worker::{Worker, WorkerState, Workers};

pub struct Destinations {
    replication: Arc<Replication>,
    workers: Workers,
    changes: watch::Receiver<u64>,
    /// The backend each running processor was started for.
    running: BTreeMap<String, Arc<dyn DataBackend>>,
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
        let current = self.replication.strata.locations.all();
        // A processor whose location went (or was replaced) ends by itself.
        self.running.retain(|name, backend| {
            current
                .iter()
                .any(|(n, l)| n == name && Arc::ptr_eq(&l.backend, backend))
        });
        for (name, location) in current {
            if !self.running.contains_key(&name) {
                let processor =
                    DataProcessor::new(self.replication.clone(), &name, location.backend.clone());
                self.workers.spawn(processor);
                self.running.insert(name, location.backend);
            }
        }
        Ok(WorkerState::Idle)
    }

    async fn wait_for_work(&mut self) {
        if self.changes.changed().await.is_err() {
            // The registry is gone: nothing will ever change again.
            std::future::pending::<()>().await;
        }
    }

    fn progress(&self) -> String {
        format!("{} destinations", self.running.len())
    }
}
