//! The handler's answer: every result, the alerts decided and each delivery's outcome.

use serde::Serialize;

use crate::alerting::Alert;
use crate::checks::CheckResult;
use crate::notify::Delivery;
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
