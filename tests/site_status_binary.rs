//! The real `site-status` binary, black-box: under a Lambda Runtime API emulator, and run locally.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::lambda::{Outcome, RuntimeApi, scheduled_event};
use support::wecom::FakeWeCom;

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

// lookout's own outage, as the deployed site-status runs it (`lookout.yaml` next to the bootstrap,
// state in a file): 50 monitors whose targets all refuse connections. With the canary failing too
// the fault is lookout's: one monitor error, no target incident. With a healthy canary the failures
// are the targets': 50 incidents, in one digest, and lookout's own incident closes.

/// A port nothing listens on: connections to it are refused.
async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

async fn outage_tick(state: &str, wecom: &FakeWeCom, canary: &str, minute: u32) -> Value {
    let api = RuntimeApi::start().await;
    let closed = closed_port().await;
    let mut yaml = String::from(
        "defaults:\n  failure_threshold: 1\n  recovery_threshold: 1\n  language: en\nmonitors:\n",
    );
    for i in 0..50 {
        yaml.push_str(&format!(
            "  - {{name: site-{i:02}, type: site, url: \"http://127.0.0.1:{closed}/{i}\", retries: 0}}\n"
        ));
    }
    std::fs::write(api.task_root().join("lookout.yaml"), yaml).unwrap();
    let wecom_url = wecom.url();
    let _function = api
        .spawn(
            "site-status",
            &[
                ("STATE_FILE", state),
                ("WECOM_WEBHOOK_URL", &wecom_url),
                ("ALERT_CANARY_URL", canary),
            ],
        )
        .await;
    let outcome = api
        .invoke(
            scheduled_event(
                &format!("tick-{minute}"),
                &format!("2026-12-06T06:{minute:02}:00Z"),
            ),
            Duration::from_secs(60),
        )
        .await;
    match outcome {
        Outcome::Response(report) => report,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn every_target_unreachable_with_the_canary_is_one_monitor_error_and_with_a_healthy_canary_fifty_incidents()
 {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json").display().to_string();
    let wecom = FakeWeCom::start("outage-robot-key").await;
    let (site, _) = support::site::start().await;
    let broken_canary = format!("http://127.0.0.1:{}/", closed_port().await);

    // The canary fails too: lookout's own network.
    let report = outage_tick(&state, &wecom, &broken_canary, 0).await;
    let results = support::lambda::healths(&report);
    assert_eq!(results.len(), 51, "{report}");
    assert_eq!(
        results.iter().filter(|(_, h)| h == "suppressed").count(),
        50,
        "no target is judged"
    );
    assert!(results.contains(&("site-status:lookout".into(), "monitor_error".into())));
    let incidents = report["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1, "{report}");
    assert_eq!(incidents[0]["key"], "site-status:lookout");
    let told = wecom.accepted();
    assert_eq!(told.len(), 1);
    let text = told[0]["markdown"]["content"].as_str().unwrap();
    assert!(
        text.contains(
            "lookout's own network looks broken: 50/50 targets and the canary failed with connect"
        ),
        "{text}"
    );
    assert!(
        !text.contains("site-07"),
        "no target is named as down: {text}"
    );

    // A healthy canary: the targets are down, each its own incident, told in one digest; lookout's
    // own incident closes in the same digest.
    let report = outage_tick(&state, &wecom, &format!("http://{site}/ok"), 1).await;
    let results = support::lambda::healths(&report);
    assert_eq!(
        results.iter().filter(|(_, h)| h == "failing").count(),
        50,
        "{report}"
    );
    let incidents = report["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 50, "{report}");
    assert!(incidents.iter().all(|i| i["key"] != "site-status:lookout"));
    let told = wecom.accepted();
    assert_eq!(told.len(), 2, "one digest");
    let text = told[1]["markdown"]["content"].as_str().unwrap();
    assert!(
        text.contains("50 failing") && text.contains("1 recovered"),
        "{text}"
    );

    // Without a canary the share alone decides.
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join("state.json").display().to_string();
    let report = outage_tick(&fresh, &FakeWeCom::start("other-robot-key").await, "", 2).await;
    assert_eq!(report["incidents"].as_array().unwrap().len(), 1, "{report}");
}
