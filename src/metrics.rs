//! CloudWatch Embedded Metric Format: one JSON line per figure, printed to standard output under
//! Lambda, which CloudWatch turns into metrics for the dashboard (namespace `lookout`).

use std::io::Write;

use serde_json::{Value, json};

use crate::checks::kafka_lag::KafkaLagMeasurement;
use crate::checks::{Health, Measurement};
use crate::report::Report;

/// The metrics namespace.
pub const NAMESPACE: &str = "lookout";

fn line(
    timestamp_ms: i64,
    dimensions: &[&[&str]],
    fields: Value,
    metrics: &[(&str, &str)],
) -> String {
    let mut document = json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": dimensions,
                "Metrics": metrics.iter().map(|(name, unit)| json!({"Name": name, "Unit": unit})).collect::<Vec<_>>(),
            }]
        }
    });
    if let (Some(target), Some(source)) = (document.as_object_mut(), fields.as_object()) {
        target.extend(source.clone());
    }
    document.to_string()
}

/// The EMF lines for a report: site latency per URL; total / connect / download per speed-test
/// carrier (each line names its node); lag per group (each line names its topic).
pub fn emf_lines(report: &Report) -> Vec<String> {
    let at = report.tick.time.timestamp_millis();
    let function = report.function;
    let mut lines = Vec::new();
    for result in &report.results {
        match &result.measurement {
            // A site the monitor could not check is neither up nor down: no point is drawn.
            Measurement::Site(_) if result.health == Health::MonitorError => {}
            Measurement::Site(site) => lines.push(line(
                at,
                &[&["Function", "Url"]],
                json!({
                    "Function": function,
                    "Url": site.url,
                    "LatencyMs": site.elapsed_ms,
                    "Up": u8::from(result.health == Health::Ok),
                }),
                &[("LatencyMs", "Milliseconds"), ("Up", "Count")],
            )),
            Measurement::SpeedTest(speed) => {
                for node in &speed.nodes {
                    // Metrics per carrier; the node is a property, graphed with Logs Insights:
                    // every metric costs money each month, and nodes are many.
                    let mut fields = json!({
                        "Function": function,
                        "Target": result.target,
                        "Carrier": node.carrier,
                        "Node": node.name,
                        "Bad": node.bad,
                    });
                    let mut metrics = Vec::new();
                    for (name, value) in [
                        ("TotalMs", node.total_ms),
                        ("ConnectMs", node.connect_ms),
                        ("DownloadMs", node.download_ms),
                    ] {
                        if let Some(value) = value {
                            fields[name] = json!(value);
                            metrics.push((name, "Milliseconds"));
                        }
                    }
                    lines.push(line(
                        at,
                        &[&["Function", "Target", "Carrier"]],
                        fields,
                        &metrics,
                    ));
                }
            }
            Measurement::KafkaLag(KafkaLagMeasurement::Topic(topic)) => lines.push(line(
                at,
                // One metric per group (Sum: the group's lag; Maximum: its worst topic); the topic
                // is a property, graphed with Logs Insights.
                &[&["Function", "Group"]],
                json!({"Function": function, "Group": topic.group, "Topic": topic.topic, "Lag": topic.lag, "Threshold": topic.threshold}),
                &[("Lag", "Count")],
            )),
            Measurement::KafkaLag(KafkaLagMeasurement::Group(_)) => {}
        }
    }
    lines
}

/// Prints the report's EMF lines to standard output.
pub fn print(report: &Report) {
    let mut out = std::io::stdout().lock();
    for line in emf_lines(report) {
        let _ = writeln!(out, "{}", crate::redact::scrub(&line));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::CheckResult;
    use crate::checks::site::SiteMeasurement;
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
        let report = Report::new("site-status", tick, vec![result, unchecked], false);
        let lines = emf_lines(&report);
        assert_eq!(
            lines.len(),
            1,
            "a site the monitor could not check is not drawn as down"
        );
        let emf: Value = serde_json::from_str(&lines[0]).unwrap();
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
