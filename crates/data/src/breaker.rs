//! A per-location circuit breaker: opens after a run of failures, refuses calls for a
//! cool-down, then lets one trial through. Pure state on given instants; it never sleeps.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One trial call is in flight; others are refused until it reports.
    HalfOpen,
}

#[derive(Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    cooldown: Duration,
    state: State,
}

impl CircuitBreaker {
    /// Opens after `threshold` consecutive failures, for `cooldown`.
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cooldown,
            state: State::Closed { failures: 0 },
        }
    }

    /// Whether a call may go to the backend now.
    pub fn allow(&mut self, now: Instant) -> bool {
        match self.state {
            State::Closed { .. } => true,
            State::Open { until } if now >= until => {
                self.state = State::HalfOpen;
                true
            }
            State::Open { .. } | State::HalfOpen => false,
        }
    }

    pub fn record_success(&mut self) {
        self.state = State::Closed { failures: 0 };
    }

    pub fn record_failure(&mut self, now: Instant) {
        self.state = match self.state {
            State::Closed { failures } if failures + 1 < self.threshold => State::Closed {
                failures: failures + 1,
            },
            _ => State::Open {
                until: now + self.cooldown,
            },
        };
    }

    /// How long calls are still refused, if the breaker is open.
    pub fn open_for(&self, now: Instant) -> Option<Duration> {
        match self.state {
            State::Open { until } if until > now => Some(until - now),
            State::HalfOpen => Some(Duration::ZERO),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_and_recovers_through_one_trial() {
        let t0 = Instant::now();
        let mut b = CircuitBreaker::new(3, Duration::from_secs(10));
        for _ in 0..2 {
            assert!(b.allow(t0));
            b.record_failure(t0);
        }
        assert!(b.allow(t0), "still closed below the threshold");
        b.record_failure(t0);
        assert!(!b.allow(t0), "open after 3 failures");
        assert_eq!(b.open_for(t0), Some(Duration::from_secs(10)));
        let later = t0 + Duration::from_secs(10);
        assert!(b.allow(later), "one trial after the cool-down");
        assert!(!b.allow(later), "only one trial at a time");
        b.record_failure(later);
        assert!(
            !b.allow(later + Duration::from_secs(1)),
            "failed trial reopens"
        );
        let again = later + Duration::from_secs(10);
        assert!(b.allow(again));
        b.record_success();
        assert!(b.allow(again) && b.allow(again));
        assert_eq!(b.open_for(again), None);
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let t0 = Instant::now();
        let mut b = CircuitBreaker::new(2, Duration::from_secs(1));
        b.record_failure(t0);
        b.record_success();
        b.record_failure(t0);
        assert!(b.allow(t0));
    }
}
