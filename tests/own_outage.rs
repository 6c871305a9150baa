//! lookout's own outage, as the deployed site-status runs it (the one bootstrap under the Lambda
//! emulator, `lookout.yaml` next to it, state in a file): 50 monitors whose targets all refuse
//! connections. With the canary failing too the fault is lookout's: one monitor error, no target
//! incident. With a healthy canary the failures are the targets': 50 incidents, in one digest, and
//! lookout's own incident closes.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::lambda::{Outcome, RuntimeApi, scheduled_event};
use support::wecom::FakeWeCom;

/// A port nothing listens on: connections to it are refused.
async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

async fn tick(state: &str, wecom: &FakeWeCom, canary: &str, minute: u32) -> Value {
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

fn healths(report: &Value) -> Vec<(String, String)> {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap().to_owned(),
                r["health"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
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
    let report = tick(&state, &wecom, &broken_canary, 0).await;
    let results = healths(&report);
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
    let report = tick(&state, &wecom, &format!("http://{site}/ok"), 1).await;
    let results = healths(&report);
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
    let report = tick(&fresh, &FakeWeCom::start("other-robot-key").await, "", 2).await;
    assert_eq!(report["incidents"].as_array().unwrap().len(), 1, "{report}");
}
