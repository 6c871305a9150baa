//! CloudWatch Embedded Metric Format: one JSON line per figure, printed to standard output under
//! Lambda, which CloudWatch turns into metrics for the dashboard (namespace `lookout`).

use std::io::Write;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// The metrics namespace.
pub const NAMESPACE: &str = "lookout";

/// One figure line: its dimensions, its fields (the values and properties) and which fields are
/// metrics, with their units. Each check says what its results draw ([`Measurement::points`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// The dimension sets (`[["Function", "Url"]]`).
    pub dimensions: Vec<Vec<&'static str>>,
    /// Values and properties (`{"Function": ..., "LatencyMs": 12}`).
    pub fields: Value,
    /// The fields that are metrics, with their CloudWatch units.
    pub metrics: Vec<(&'static str, &'static str)>,
}

fn line(timestamp_ms: i64, point: Point) -> String {
    let mut document = json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": point.dimensions,
                "Metrics": point.metrics.iter().map(|(name, unit)| json!({"Name": name, "Unit": unit})).collect::<Vec<_>>(),
            }]
        }
    });
    if let (Some(target), Some(source)) = (document.as_object_mut(), point.fields.as_object()) {
        target.extend(source.clone());
    }
    document.to_string()
}

/// The EMF lines of a tick's points, at its time (what each check's results draw: site latency per
/// URL; total / connect / download per speed-test carrier; lag per consumer group).
pub fn emf_lines(at: DateTime<Utc>, points: impl IntoIterator<Item = Point>) -> Vec<String> {
    let at = at.timestamp_millis();
    points.into_iter().map(|point| line(at, point)).collect()
}

/// Prints EMF lines to standard output.
pub fn print(lines: &[String]) {
    let mut out = std::io::stdout().lock();
    for line in lines {
        let _ = writeln!(out, "{}", crate::redact::scrub(line));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::site::SiteMeasurement;
    use crate::checks::{CheckResult, Health, Measurement};
    use crate::report::Report;
    use crate::tick::{Tick, TickSource};
    use chrono::TimeZone;

    #[test]
    fn a_site_result_becomes_one_emf_line() {
        let tick = Tick {
            id: "t".into(),
            time: chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            source: TickSource::Schedule,
        };
        let result = CheckResult {
            since: None,
            key: "site-status:https://a/".into(),
            target: "https://a/".into(),
            health: Health::Ok,
            failure: None,
            measurement: Measurement::Site(SiteMeasurement {
                url: "https://a/".into(),
                final_url: None,
                status: Some(200),
                elapsed_ms: 182,
                cert_days_left: None,
                attempts: 1,
            }),
            memory: None,
        };
        let unchecked = CheckResult {
            key: "site-status:https://b/".into(),
            target: "https://b/".into(),
            health: Health::MonitorError,
            ..result.clone()
        };
        let mut report = Report::new(
            "site-status",
            tick,
            vec![result.clone(), unchecked.clone()],
            false,
        );
        // Without `metrics: true`, only the function's totals.
        let totals = emf_lines(report.tick.time, report.points());
        assert_eq!(totals.len(), 1);
        let emf: Value = serde_json::from_str(&totals[0]).unwrap();
        assert_eq!(
            emf["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Function"]])
        );
        assert_eq!(
            (
                &emf["MonitorsChecked"],
                &emf["MonitorsFailing"],
                &emf["MonitorErrors"]
            ),
            (&json!(2), &json!(0), &json!(1))
        );
        report.metered = [result.key.clone(), unchecked.key.clone()].into();
        let lines = emf_lines(report.tick.time, report.points());
        assert_eq!(
            lines.len(),
            2,
            "the totals, and the site; a site the monitor could not check is not drawn as down"
        );
        let emf: Value = serde_json::from_str(&lines[1]).unwrap();
        assert_eq!(emf["_aws"]["Timestamp"], 1767225600000i64);
        assert_eq!(emf["_aws"]["CloudWatchMetrics"][0]["Namespace"], "lookout");
        assert_eq!(
            emf["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Function", "Url"]])
        );
        assert_eq!(emf["Url"], "https://a/");
        assert_eq!(emf["LatencyMs"], 182);
        assert_eq!(emf["Up"], 1);
    }
}
