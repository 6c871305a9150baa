//! The real `site-status` binary, black-box: under a Lambda Runtime API emulator, and run locally.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::lambda::{Outcome, RuntimeApi, scheduled_event};

const BINARY: &str = env!("CARGO_BIN_EXE_site-status");
const WITHIN: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_scheduled_event_gets_a_report_of_results_alerts_and_deliveries() {
    let (site, _) = support::site::start().await;
    let api = RuntimeApi::start().await;
    let ok = format!("http://{site}/ok");
    let down = format!("http://{site}/status/503");
    let urls = format!("{ok},{down}");
    let _function = api
        .spawn(BINARY, &[("SITE_URLS", &urls), ("SITE_RETRIES", "0")])
        .await;

    let time = (chrono::Utc::now() - chrono::Duration::minutes(3))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let event = scheduled_event("53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", &time);
    let Outcome::Response(report) = api.invoke(event, WITHIN).await else {
        panic!("the function returned an error");
    };
    assert_eq!(report["function"], "site-status");
    assert_eq!(report["tick"]["id"], "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa");
    assert_eq!(
        report["tick"]["time"],
        time.as_str(),
        "the event's own time"
    );
    assert_eq!(report["tick"]["source"], "schedule");
    assert_eq!(report["summary"]["checked"], 2);
    assert_eq!(report["summary"]["failing"], 1);

    let results = report["results"].as_array().expect("results");
    assert_eq!(results[0]["target"], ok);
    assert_eq!(results[0]["health"], "ok");
    assert_eq!(results[0]["measurement"]["status"], 200);
    assert!(results[0]["measurement"]["elapsed_ms"].is_u64());
    assert_eq!(results[1]["health"], "failing");
    assert_eq!(results[1]["failure"]["kind"], "status");

    let alerts = report["alerts"].as_array().expect("alerts");
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["target"], down);
    assert_eq!(alerts[0]["state"], "failing");
    assert_eq!(
        report["deliveries"],
        serde_json::json!([{"channel": "console", "outcome": "delivered", "attempts": 1}])
    );

    // A manual invoke with any JSON is a tick of its own, keyed by the request id.
    let Outcome::Response(manual) = api.invoke(serde_json::json!({}), WITHIN).await else {
        panic!("the function returned an error");
    };
    assert_eq!(manual["tick"]["source"], "manual");
    assert_eq!(manual["tick"]["id"], "request-1");
    assert_eq!(manual["summary"]["checked"], 2);
}

async fn init_error_for(env: &[(&str, &str)]) -> (String, String) {
    let api = RuntimeApi::start().await;
    let function = api.spawn(BINARY, env).await;
    let (headers, body) = api.init_error(WITHIN).await.expect("an init error report");
    let status = function
        .exited(WITHIN)
        .await
        .expect("the function exits after an init error");
    assert!(!status.success(), "a configuration error exits non-zero");
    let stderr = function.stderr().await;
    assert!(!stderr.contains("panicked"), "no panic: {stderr}");
    assert_eq!(
        headers["lambda-runtime-function-error-type"],
        "Runtime.ConfigError"
    );
    assert_eq!(body["errorType"], "ConfigError");
    (
        body["errorMessage"].as_str().unwrap_or_default().to_owned(),
        stderr,
    )
}

#[tokio::test]
async fn a_bad_configuration_is_reported_as_an_init_error_naming_the_variable() {
    let (message, _) = init_error_for(&[("SITE_URLS", "ftp://example.com")]).await;
    assert!(
        message.contains("SITE_URLS") && message.contains("ftp://example.com"),
        "{message}"
    );

    let (message, _) = init_error_for(&[]).await;
    assert!(message.starts_with("SITE_URLS is not set"), "{message}");

    let (message, _) = init_error_for(&[
        ("SITE_URLS", "https://example.com"),
        ("SITE_EXPECTED_STATUS", "2xx"),
    ])
    .await;
    assert!(
        message.contains("SITE_EXPECTED_STATUS=\"2xx\""),
        "{message}"
    );
}

fn run_locally(env: &[(&str, &str)]) -> std::process::Output {
    let state = tempfile::tempdir().expect("a temporary folder");
    std::process::Command::new(BINARY)
        .env_clear()
        .env("STATE_FILE", state.path().join("state.json"))
        .envs(env.iter().copied())
        .output()
        .expect("run the binary")
}

#[tokio::test]
async fn locally_it_runs_one_tick_and_prints_the_report() {
    let (site, _) = support::site::start().await;
    let down = format!("http://{site}/status/500");
    let output = tokio::task::spawn_blocking(move || {
        run_locally(&[("SITE_URLS", &down), ("SITE_RETRIES", "0")])
    })
    .await
    .expect("local run");
    assert!(output.status.success(), "{output:?}");
    let report: Value = serde_json::from_slice(&output.stdout).expect("a JSON report on stdout");
    assert_eq!(report["tick"]["source"], "schedule");
    assert!(
        report["tick"]["id"]
            .as_str()
            .unwrap_or_default()
            .starts_with("local-")
    );
    assert_eq!(report["alerts"][0]["kind"], "status");
    // With no channel configured, the console channel prints the alert.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("[lookout] 站点状态 · 1 项故障"), "{stderr}");
    assert!(
        stderr.contains("answered 500 Internal Server Error"),
        "{stderr}"
    );
}

#[test]
fn locally_a_bad_configuration_exits_non_zero_with_the_message() {
    let output = run_locally(&[("SITE_URLS", "not a url")]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("SITE_URLS=\"not a url\""), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(output.stdout.is_empty());
}

#[tokio::test]
async fn local_runs_sharing_a_state_file_alert_once_between_them() {
    let (site, _) = support::site::start().await;
    let down = format!("http://{site}/status/503");
    let state = tempfile::tempdir().expect("a temporary folder");
    let file = state.path().join("state.json");
    let runs = (0..4).map(|_| {
        let (down, file) = (down.clone(), file.clone());
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(BINARY)
                .env_clear()
                .env("STATE_FILE", &file)
                .env("SITE_URLS", &down)
                .env("SITE_RETRIES", "0")
                .output()
                .expect("run the binary")
        })
    });
    let mut alerts = 0;
    for output in futures::future::join_all(runs).await {
        let output = output.expect("a local run");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stderr}");
        assert!(!stderr.contains("cannot"), "{stderr}");
        let report: Value = serde_json::from_slice(&output.stdout).expect("a report");
        assert!(report.get("state_error").is_none(), "{report}");
        alerts += report["alerts"].as_array().map_or(0, Vec::len);
    }
    assert_eq!(alerts, 1, "one first notice between the four runs");
    let leftovers: Vec<String> = std::fs::read_dir(state.path())
        .expect("the folder")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
