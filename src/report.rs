//! The handler's answer: every result, the alerts decided and each delivery's outcome.

use serde::Serialize;

use crate::alerting::Alert;
use crate::checks::CheckResult;
use crate::notify::{Delivery, DeliveryOutcome};
use crate::tick::Tick;

/// What one tick of a function did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The function's name.
    pub function: &'static str,
    /// The tick it ran for.
    pub tick: Tick,
    /// Counts, for a quick look.
    pub summary: Summary,
    /// One result per target.
    pub results: Vec<CheckResult>,
    /// The alerts this tick decided to send.
    pub alerts: Vec<Alert>,
    /// What each channel did with them.
    pub deliveries: Vec<Delivery>,
}

impl Report {
    /// When there was something to deliver and every channel failed: each channel's reason.
    pub fn undelivered(&self) -> Option<String> {
        let all_failed = !self.deliveries.is_empty()
            && self
                .deliveries
                .iter()
                .all(|d| d.outcome == DeliveryOutcome::Failed);
        all_failed.then(|| {
            self.deliveries
                .iter()
                .map(|d| format!("{}: {}", d.channel, d.error.as_deref().unwrap_or("failed")))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

/// Counts of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Targets checked.
    pub checked: usize,
    /// Targets not healthy.
    pub failing: usize,
    /// Alerts decided.
    pub alerts: usize,
}
