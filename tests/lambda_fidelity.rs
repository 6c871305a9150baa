//! The real binaries under Lambda's own limits and habits, through the strict emulator: blank
//! parameters, 1,024 descriptors, the deadline, asynchronous retries, event times far off.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::lambda::{Outcome, RuntimeApi, scheduled_event};

const SITE: &str = env!("CARGO_BIN_EXE_site-status");
const WITHIN: Duration = Duration::from_secs(60);

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn report(outcome: Outcome) -> Value {
    match outcome {
        Outcome::Response(report) => report,
        other => panic!("expected a report, got {other:?}"),
    }
}

#[tokio::test]
async fn a_blank_rust_log_parameter_logs_at_info_as_if_unset() {
    let (site, _) = support::site::start().await;
    let api = RuntimeApi::start().await;
    let url = format!("http://{site}/status/503");
    // RUST_LOG is left out, so the emulator passes it blank, as CloudFormation does.
    let function = api
        .spawn(SITE, &[("SITE_URLS", &url), ("SITE_RETRIES", "0")])
        .await;
    report(
        api.invoke(scheduled_event("blank-log", &now_rfc3339()), WITHIN)
            .await,
    );
    let stderr = function.stop().await;
    let lines: Vec<Value> = stderr
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &Value| v.get("level").is_some())
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["level"] == "INFO" && l["fields"]["message"] == "check finished"),
        "no INFO log line with RUST_LOG blank:\n{stderr}"
    );
}

#[tokio::test]
async fn events_from_1970_or_2999_are_ticks_of_the_clock_not_of_their_time() {
    let (site, _) = support::site::start().await;
    let api = RuntimeApi::start().await;
    let url = format!("http://{site}/status/503");
    let _function = api
        .spawn(SITE, &[("SITE_URLS", &url), ("SITE_RETRIES", "0")])
        .await;
    let first = report(
        api.invoke(scheduled_event("now", &now_rfc3339()), WITHIN)
            .await,
    );
    assert_eq!(first["alerts"][0]["step"], 1);
    for (id, far) in [
        ("future", "2999-01-01T00:00:00Z"),
        ("past", "1970-01-01T00:00:00Z"),
    ] {
        let later = report(api.invoke(scheduled_event(id, far), WITHIN).await);
        let time: chrono::DateTime<chrono::Utc> = later["tick"]["time"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .expect("a tick time");
        assert!(
            (chrono::Utc::now() - time).num_seconds().abs() < 60,
            "{id}: the clock's time, not {time}"
        );
        assert_eq!(
            later["alerts"],
            serde_json::json!([]),
            "{id}: the incident is minutes old, no step is due"
        );
    }
}
