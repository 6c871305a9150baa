//! What the results mean for people: which alerts a tick raises, and how they read.

pub mod render;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::checks::{CheckResult, Health};
use crate::tick::Tick;

/// Something people should be told about one incident key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// The incident key (`site-status:https://example.com/`).
    pub key: String,
    /// The function that raised it.
    pub function: &'static str,
    /// What is affected, as the user named it.
    pub target: String,
    /// What is being said about it.
    pub state: AlertState,
    /// The failure kind (`timeout`, `status`, ...), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    /// A sentence a person can act on.
    pub message: String,
    /// When the problem was first seen.
    pub since: DateTime<Utc>,
}

/// What an alert says about its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// The target is down, slow or wrong.
    Failing,
    /// The monitor could not check; the target may be fine.
    MonitorError,
}

/// The alerts of one tick, before there is any memory of earlier ticks: every failing result alerts.
pub fn alerts_for(function: &'static str, results: &[CheckResult], tick: &Tick) -> Vec<Alert> {
    results
        .iter()
        .filter_map(|result| {
            let state = match result.health {
                Health::Ok => return None,
                Health::Failing => AlertState::Failing,
                Health::MonitorError => AlertState::MonitorError,
            };
            Some(Alert {
                key: result.key.clone(),
                function,
                target: result.target.clone(),
                state,
                kind: result.failure.as_ref().map(|f| f.kind),
                message: result
                    .failure
                    .as_ref()
                    .map(|f| f.message.clone())
                    .unwrap_or_default(),
                since: tick.time,
            })
        })
        .collect()
}

/// Everything one tick decided, sent as one message per channel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Digest {
    /// The function that raised the alerts.
    pub function: &'static str,
    /// The tick's time.
    pub time: DateTime<Utc>,
    /// The alerts, in the order of the results.
    pub alerts: Vec<Alert>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::{Failure, Measurement, site::SiteMeasurement};
    use crate::tick::TickSource;

    fn result(target: &str, health: Health) -> CheckResult {
        CheckResult {
            key: format!("site-status:{target}"),
            target: target.into(),
            health,
            failure: (health != Health::Ok).then(|| Failure {
                kind: "status",
                message: "answered 503".into(),
            }),
            measurement: Measurement::Site(SiteMeasurement {
                url: target.into(),
                final_url: None,
                status: Some(503),
                elapsed_ms: 1,
                cert_days_left: None,
                attempts: 1,
            }),
        }
    }

    #[test]
    fn every_unhealthy_result_alerts_and_healthy_ones_do_not() {
        let tick = Tick {
            id: "t".into(),
            time: Utc::now(),
            source: TickSource::Manual,
        };
        let results = [
            result("https://a/", Health::Ok),
            result("https://b/", Health::Failing),
            result("https://c/", Health::MonitorError),
        ];
        let alerts = alerts_for("site-status", &results, &tick);
        assert_eq!(alerts.len(), 2);
        assert_eq!(alerts[0].target, "https://b/");
        assert_eq!(alerts[0].state, AlertState::Failing);
        assert_eq!(alerts[0].kind, Some("status"));
        assert_eq!(alerts[1].state, AlertState::MonitorError);
        assert_eq!(alerts[1].since, tick.time);
    }
}
