//! The handler's answer: every result, the incidents, the alerts sent and each delivery's outcome.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::alerting::Alert;
use crate::alerting::lifecycle::{Incident, Status};
use crate::checks::{CheckResult, Health};
use crate::notify::{Delivery, DeliveryOutcome};
use crate::tick::Tick;

/// What one tick of a function did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The function's name.
    pub function: &'static str,
    /// The tick it ran for.
    pub tick: Tick,
    /// True when this tick had been processed before: nothing changed and nothing was sent.
    pub duplicate: bool,
    /// Counts, for a quick look.
    pub summary: Summary,
    /// One result per target.
    pub results: Vec<CheckResult>,
    /// Incidents open, pending or recovering after this tick.
    pub incidents: Vec<IncidentSummary>,
    /// What was sent, each with the channels it went to.
    pub alerts: Vec<Alert>,
    /// What each channel did with its digest.
    pub deliveries: Vec<Delivery>,
    /// Set when the state store failed: this tick alerted without memory of earlier ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_error: Option<String>,
    /// The keys whose results draw metrics of their own (their monitors say `metrics: true`).
    #[serde(skip)]
    pub metered: std::collections::HashSet<String>,
}

/// Counts of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct Summary {
    /// Targets checked.
    pub checked: usize,
    /// Targets not healthy.
    pub failing: usize,
    /// Incidents open (recovering included).
    pub open_incidents: usize,
    /// Alerts sent (each counted once, whatever the channels).
    pub alerts: usize,
}

impl Summary {
    /// The counts of a report.
    pub fn of(report: &Report) -> Summary {
        Summary {
            checked: report.results.len(),
            failing: report.results.iter().filter(|r| r.is_failing()).count(),
            open_incidents: report
                .incidents
                .iter()
                .filter(|i| matches!(i.status, Status::Open | Status::Recovering))
                .count(),
            alerts: report.alerts.len(),
        }
    }
}

/// An incident as reports show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentSummary {
    /// The incident key.
    pub key: String,
    /// Where it stands.
    pub status: Status,
    /// Whose fault: the target's (`failing`) or the monitor's (`monitor_error`).
    pub health: Health,
    /// When the failure began.
    pub since: Option<DateTime<Utc>>,
    /// Its age in minutes at this tick.
    pub age_minutes: Option<i64>,
    /// Consecutive failing ticks.
    pub failures: u32,
}

impl IncidentSummary {
    /// The summary of an incident at `now`.
    pub fn of(incident: &Incident, now: DateTime<Utc>) -> Self {
        IncidentSummary {
            key: incident.key.clone(),
            status: incident.status,
            health: incident.health,
            since: incident.began_at,
            age_minutes: incident.began_at.map(|b| (now - b).num_minutes()),
            failures: incident.failures,
        }
    }
}

/// The most a report may take as an answer: Lambda refuses more than 6 MB.
pub const MAX_ANSWER_BYTES: usize = 5 * 1024 * 1024;

fn size_of(value: &serde_json::Value) -> usize {
    serde_json::to_vec(value).map_or(usize::MAX, |bytes| bytes.len())
}

impl Report {
    /// The metric points its results draw (each check's own: [`crate::checks::Measurement::points`]).
    pub fn points(&self) -> impl Iterator<Item = crate::metrics::Point> + '_ {
        let totals = (!self.duplicate).then(|| self.totals());
        totals.into_iter().chain(
            self.results
                .iter()
                .filter(|result| self.metered.contains(&result.key))
                .flat_map(|result| result.measurement.points(result, self.function)),
        )
    }

    /// The function's own totals, drawn every tick whatever its monitors say: three metrics in
    /// all, however many monitors there are.
    fn totals(&self) -> crate::metrics::Point {
        let count = |health: Health| self.results.iter().filter(|r| r.health == health).count();
        crate::metrics::Point {
            dimensions: vec![vec!["Function"]],
            fields: serde_json::json!({
                "Function": self.function,
                "MonitorsChecked": self.results.len(),
                "MonitorsFailing": count(Health::Failing),
                "MonitorErrors": count(Health::MonitorError),
            }),
            metrics: vec![
                ("MonitorsChecked", "Count"),
                ("MonitorsFailing", "Count"),
                ("MonitorErrors", "Count"),
            ],
        }
    }

    /// The report as JSON within `limit` bytes. A larger one is summarised: the passing results go
    /// first (the summary still counts them), then the rest of the results and the alerts are cut
    /// by halves, each cut counted in `results_omitted` / `alerts_omitted`.
    pub fn fitted(&self, limit: usize) -> serde_json::Value {
        use serde_json::{Value, json};
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if size_of(&value) <= limit {
            return value;
        }
        let mut omitted = 0usize;
        if let Some(results) = value.get_mut("results").and_then(Value::as_array_mut) {
            let before = results.len();
            results.retain(|r| r["health"] != "ok");
            omitted = before - results.len();
        }
        let mut alerts_omitted = 0usize;
        for field in ["results", "alerts"] {
            while size_of(&value) > limit {
                let Some(list) = value.get_mut(field).and_then(Value::as_array_mut) else {
                    break;
                };
                if list.is_empty() {
                    break;
                }
                let keep = list.len() / 2;
                let cut = list.len() - keep;
                list.truncate(keep);
                if field == "results" {
                    omitted += cut;
                } else {
                    alerts_omitted += cut;
                }
            }
        }
        value["results_omitted"] = json!(omitted);
        if alerts_omitted > 0 {
            value["alerts_omitted"] = json!(alerts_omitted);
        }
        value["note"] = json!(
            "the report was larger than Lambda's answer allows: passing results, and then more, are left out (the summary counts them all)"
        );
        value
    }

    /// A report of results with nothing decided yet.
    pub fn new(
        function: &'static str,
        tick: Tick,
        results: Vec<CheckResult>,
        duplicate: bool,
    ) -> Self {
        let mut report = Report {
            function,
            tick,
            duplicate,
            summary: Summary::default(),
            results,
            incidents: Vec::new(),
            alerts: Vec::new(),
            deliveries: Vec::new(),
            state_error: None,
            metered: std::collections::HashSet::new(),
        };
        report.summary = Summary::of(&report);
        report
    }

    /// When there was something to deliver, no channel delivered it and some channel may yet
    /// (its notice is owed, not dropped): each channel's reason. The invocation then fails, so
    /// Lambda retries it and, after its retries, the failure destination gets the event.
    pub fn undelivered(&self) -> Option<String> {
        let all_failed = self
            .deliveries
            .iter()
            .any(|d| d.outcome == DeliveryOutcome::Failed)
            && self
                .deliveries
                .iter()
                .all(|d| d.outcome != DeliveryOutcome::Delivered);
        all_failed.then(|| {
            self.deliveries
                .iter()
                .map(|d| format!("{}: {}", d.channel, d.error.as_deref().unwrap_or("failed")))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::site::SiteMeasurement;
    use crate::checks::{Failure, Measurement};
    use crate::tick::TickSource;

    fn result(i: usize, failing: bool) -> CheckResult {
        let url = format!("https://site-{i}.example.com/{}", "path/".repeat(20));
        CheckResult {
            since: None,
            key: format!("site-status:{url}"),
            target: url.clone(),
            health: if failing { Health::Failing } else { Health::Ok },
            failure: failing.then(|| Failure {
                kind: "status",
                message: "answered 503 Service Unavailable".repeat(4),
            }),
            measurement: Measurement::Site(SiteMeasurement {
                url,
                final_url: None,
                status: Some(200),
                elapsed_ms: 12,
                cert_days_left: Some(30),
                attempts: 1,
            }),
            memory: None,
        }
    }

    #[test]
    fn a_huge_report_is_summarised_within_the_answer_limit() {
        let tick = Tick {
            id: "t".into(),
            time: chrono::Utc::now(),
            source: TickSource::Schedule,
        };
        let results: Vec<CheckResult> = (0..20_000).map(|i| result(i, i % 10 == 0)).collect();
        let report = Report::new("site-status", tick, results, false);
        let small = report.fitted(1024 * 1024);
        let size = serde_json::to_vec(&small).unwrap().len();
        assert!(size <= 1024 * 1024, "{size}");
        assert_eq!(
            small["summary"]["checked"], 20_000,
            "the summary counts them all"
        );
        assert_eq!(small["summary"]["failing"], 2_000);
        let kept = small["results"].as_array().unwrap();
        assert!(
            kept.iter().all(|r| r["health"] == "failing"),
            "failures are kept first"
        );
        assert_eq!(
            small["results_omitted"].as_u64().unwrap() as usize + kept.len(),
            20_000
        );
        // A report that fits is left whole.
        let whole = report.fitted(usize::MAX);
        assert!(whole.get("results_omitted").is_none());
    }
}
