//! In-memory replication counters since the process started: completions,
//! failures, recent throughput, replication delays and copies in flight.
//! Backlog and RPO are not counted here: they are read from the bus.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::Task;

/// The window throughput is averaged over.
pub const THROUGHPUT_WINDOW: Duration = Duration::from_secs(60);
/// Replication delays kept for percentiles.
const DELAY_SAMPLES: usize = 20_000;

#[derive(Debug, Default)]
struct Counters {
    completed_objects: u64,
    completed_bytes: u64,
    failed_objects: u64,
    failed_bytes: u64,
    /// (when, bytes) of completions within the throughput window.
    recent: VecDeque<(Instant, u64)>,
    /// Milliseconds from the source's commit to the destination's copy.
    delays_ms: VecDeque<u64>,
}

/// Figures of one destination, as the API shows them.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Totals {
    pub completed_objects: u64,
    pub completed_bytes: u64,
    pub failed_objects: u64,
    pub failed_bytes: u64,
    /// Over the last minute.
    pub objects_per_second: f64,
    pub bytes_per_second: f64,
    /// Replication delay percentiles (commit at the source to copy done).
    pub delay_p50_ms: Option<u64>,
    pub delay_p99_ms: Option<u64>,
}

type InFlight = (String, String, String, String);

#[derive(Default)]
pub struct Metrics {
    by_location: Mutex<BTreeMap<String, Counters>>,
    in_flight: Mutex<BTreeMap<InFlight, (u64, u64)>>,
}

fn in_flight_key(location: &str, task: &Task) -> InFlight {
    (
        location.to_string(),
        task.bucket.clone(),
        task.key.clone(),
        task.version_id.clone(),
    )
}

impl Metrics {
    fn with(&self, location: &str, f: impl FnOnce(&mut Counters)) {
        if let Ok(mut all) = self.by_location.lock() {
            f(all.entry(location.to_string()).or_default());
        }
    }

    pub fn completed(&self, location: &str, bytes: u64, source_ms: i64) {
        let delay = u64::try_from(crate::now_ms() - source_ms).unwrap_or(0);
        self.with(location, |c| {
            c.completed_objects += 1;
            c.completed_bytes += bytes;
            let now = Instant::now();
            c.recent.push_back((now, bytes));
            while c
                .recent
                .front()
                .is_some_and(|(t, _)| now.duration_since(*t) > THROUGHPUT_WINDOW)
            {
                c.recent.pop_front();
            }
            if c.delays_ms.len() == DELAY_SAMPLES {
                c.delays_ms.pop_front();
            }
            c.delays_ms.push_back(delay);
        });
    }

    pub fn failed(&self, location: &str, bytes: u64) {
        self.with(location, |c| {
            c.failed_objects += 1;
            c.failed_bytes += bytes;
        });
    }

    pub fn progress(&self, location: &str, task: &Task, sent: u64) {
        if let Ok(mut all) = self.in_flight.lock() {
            all.insert(in_flight_key(location, task), (sent, task.size));
        }
    }

    pub fn progress_done(&self, location: &str, task: &Task) {
        if let Ok(mut all) = self.in_flight.lock() {
            all.remove(&in_flight_key(location, task));
        }
    }

    /// Bytes sent so far and total of a copy under way.
    pub fn in_flight(&self, location: &str, task: &Task) -> Option<(u64, u64)> {
        self.in_flight
            .lock()
            .ok()?
            .get(&in_flight_key(location, task))
            .copied()
    }

    pub fn totals(&self, location: &str) -> Totals {
        let Ok(all) = self.by_location.lock() else {
            return Totals::default();
        };
        let Some(c) = all.get(location) else {
            return Totals::default();
        };
        let now = Instant::now();
        let (objects, bytes) = c
            .recent
            .iter()
            .filter(|(t, _)| now.duration_since(*t) <= THROUGHPUT_WINDOW)
            .fold((0u64, 0u64), |(n, b), (_, bytes)| (n + 1, b + bytes));
        // Over the time completions were seen, up to the window.
        let span = c
            .recent
            .front()
            .map_or(THROUGHPUT_WINDOW, |(t, _)| now.duration_since(*t))
            .clamp(Duration::from_secs(1), THROUGHPUT_WINDOW)
            .as_secs_f64();
        let mut delays: Vec<u64> = c.delays_ms.iter().copied().collect();
        delays.sort_unstable();
        let percentile = |p: f64| {
            (!delays.is_empty()).then(|| delays[((delays.len() - 1) as f64 * p).round() as usize])
        };
        Totals {
            completed_objects: c.completed_objects,
            completed_bytes: c.completed_bytes,
            failed_objects: c.failed_objects,
            failed_bytes: c.failed_bytes,
            objects_per_second: objects as f64 / span,
            bytes_per_second: bytes as f64 / span,
            delay_p50_ms: percentile(0.5),
            delay_p99_ms: percentile(0.99),
        }
    }
}
