//! Confirmation from elsewhere (`confirm`), as the deployed site-status runs it: the one bootstrap
//! under the Lambda emulator, `lookout.yaml` beside it, state in a file, the channels the WeCom and
//! DingTalk fakes, Globalping the strict fake. The sites have public names and are reached through
//! a proxy (the fake site) as a real network would reach them; Globalping refuses private targets,
//! so a private one is never sent there.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::dingtalk::FakeDingTalk;
use support::globalping::{FakeGlobalping, dns_probe, http_probe, ping_probe};
use support::lambda::{Outcome, RuntimeApi, scheduled_event};
use support::wecom::FakeWeCom;

struct World {
    globalping: FakeGlobalping,
    wecom: FakeWeCom,
    dingtalk: FakeDingTalk,
    site: std::net::SocketAddr,
    /// A port nothing listens on.
    closed: u16,
    state: tempfile::TempDir,
}

impl World {
    async fn start() -> World {
        let globalping = FakeGlobalping::start(Vec::new(), 1).await;
        globalping.answer_for(
            "down.example.com",
            vec![
                http_probe("Frankfurt", Some(503)),
                http_probe("Tokyo", None),
                http_probe("Virginia", Some(200)),
            ],
        );
        globalping.answer_for(
            "local.example.com",
            vec![
                http_probe("Frankfurt", Some(200)),
                http_probe("Tokyo", Some(200)),
                http_probe("Virginia", Some(301)),
            ],
        );
        globalping.answer_for(
            "192.0.2.1",
            vec![
                ping_probe("Ashburn", 0),
                ping_probe("Dallas", 0),
                ping_probe("Seattle", 3),
            ],
        );
        globalping.answer_for(
            "example.com",
            vec![
                dns_probe("Tokyo", "NOERROR", &["93.184.215.14"]),
                dns_probe("Osaka", "NXDOMAIN", &[]),
                dns_probe("Seoul", "NOERROR", &["93.184.215.14"]),
            ],
        );
        let (site, _) = support::site::start().await;
        let closed = {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            listener.local_addr().unwrap().port()
        };
        World {
            closed,
            globalping,
            wecom: FakeWeCom::start("confirm-robot-key").await,
            dingtalk: FakeDingTalk::start("confirm-dingtalk-token", None).await,
            site,
            state: tempfile::tempdir().unwrap(),
        }
    }

    fn yaml(&self) -> String {
        format!(
            r#"defaults:
  language: en
  timezone: UTC
channels:
  ops: {{type: wecom, webhook_url: "{wecom}"}}
  pager: {{type: dingtalk, webhook_url: "{dingtalk}", degraded: false}}
monitors:
  - {{name: shop, type: site, url: "http://down.example.com/status/503", retries: 0,
     confirm: {{from: globalping, locations: [CN, Europe, "North America"], probes: 3, quorum: 2}}}}
  - {{name: blog, type: site, url: "http://local.example.com/status/502", retries: 0,
     confirm: {{from: globalping, probes: 3, quorum: 2}}}}
  - {{name: db, type: tcp, address: "192.0.2.1:5432", timeout_ms: 300,
     confirm: {{probes: 3, quorum: 2}}}}
  - {{name: intranet, type: site, url: "http://127.0.0.1:{closed}/", retries: 0,
     confirm: {{from: globalping}}}}
  - {{name: names, type: dns, domain: example.com, server: "192.0.2.53", timeout_ms: 300,
     confirm: {{probes: 3}}}}
  - {{name: plain, type: site, url: "http://plain.example.com/status/503", retries: 0}}
"#,
            wecom = self.wecom.url(),
            dingtalk = self.dingtalk.url(),
            closed = self.closed,
        )
    }

    /// One tick at minute `minute` of 2026-12-06 10:00 UTC, in an invocation of `timeout`.
    async fn tick(&self, minute: u32, yaml: &str, timeout: Duration) -> Value {
        let api = RuntimeApi::start().await;
        api.set_timeout(timeout).await;
        std::fs::write(api.task_root().join("lookout.yaml"), yaml).unwrap();
        let state = self.state.path().join("state.json").display().to_string();
        let proxy = format!("http://{}", self.site);
        let base = self.globalping.base_url();
        let _function = api
            .spawn(
                "site-status",
                &[
                    ("STATE_FILE", &state),
                    ("HTTP_PROXY", &proxy),
                    ("NO_PROXY", "127.0.0.1,localhost"),
                    ("GLOBALPING_BASE_URL", &base),
                ],
            )
            .await;
        let outcome = api
            .invoke(
                scheduled_event(
                    &format!("tick-{minute}"),
                    &format!("2026-12-06T10:{minute:02}:00Z"),
                ),
                timeout + Duration::from_secs(60),
            )
            .await;
        match outcome {
            Outcome::Response(report) => report,
            other => panic!("{other:?}"),
        }
    }

    fn wecom_texts(&self) -> Vec<String> {
        self.wecom
            .accepted()
            .iter()
            .map(|m| {
                m["markdown"]["content"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    }

    fn dingtalk_texts(&self) -> Vec<String> {
        self.dingtalk
            .accepted()
            .iter()
            .map(|m| {
                m["markdown"]["text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    }

    /// The targets Globalping was asked to measure, in order.
    fn measured(&self) -> Vec<String> {
        self.globalping
            .created()
            .iter()
            .map(|(body, _)| {
                format!(
                    "{} {}",
                    body["type"].as_str().unwrap(),
                    body["target"].as_str().unwrap()
                )
            })
            .collect()
    }
}

fn health_of(report: &Value, key: &str) -> String {
    support::lambda::healths(report)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, h)| h)
        .unwrap_or_else(|| panic!("no result for {key}: {report}"))
}

fn message_of(report: &Value, key: &str) -> String {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == key)
        .and_then(|r| r["failure"]["message"].as_str())
        .unwrap_or_default()
        .to_owned()
}

const TICK: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_failure_seen_elsewhere_pages_and_one_seen_from_lookout_only_is_degraded() {
    let world = World::start().await;
    let yaml = world.yaml();
    let report = world.tick(0, &yaml, TICK).await;

    // What was measured: the failing monitors with `confirm` and public targets, each its own
    // measurement; not the private one, nor the one without `confirm`.
    let mut measured = world.measured();
    measured.sort();
    assert_eq!(
        measured,
        [
            "dns example.com",
            "http down.example.com",
            "http local.example.com",
            "ping 192.0.2.1"
        ],
        "{report}"
    );
    let created = world.globalping.created();
    let shop = created
        .iter()
        .find(|(b, _)| b["target"] == "down.example.com")
        .unwrap();
    assert_eq!(shop.0["limit"], 3);
    assert_eq!(
        shop.0["locations"],
        serde_json::json!([{"country": "CN"}, {"magic": "Europe"}, {"magic": "North America"}])
    );
    assert_eq!(
        shop.0["measurementOptions"]["request"]["path"],
        "/status/503"
    );
    let names = created.iter().find(|(b, _)| b["type"] == "dns").unwrap();
    assert_eq!(
        names.0["measurementOptions"],
        serde_json::json!({"query": {"type": "A"}, "resolver": "192.0.2.53", "port": 53}),
        "the monitor's own server is asked"
    );
    let db = created.iter().find(|(b, _)| b["type"] == "ping").unwrap();
    assert_eq!(
        db.0["measurementOptions"],
        serde_json::json!({"packets": 3, "protocol": "TCP", "port": 5432})
    );

    // 2/3 probes fail too: the incident opens as ever, saying where.
    assert_eq!(health_of(&report, "site:shop"), "failing");
    assert!(
        message_of(&report, "site:shop")
            .ends_with("; also failing from 2/3 probes: Frankfurt, Tokyo"),
        "{report}"
    );
    assert_eq!(health_of(&report, "tcp:db"), "failing");
    assert!(
        message_of(&report, "tcp:db").contains("also failing from 2/3 probes: Ashburn, Dallas")
    );
    // 3/3 reach it: degraded, and said so.
    assert_eq!(health_of(&report, "site:blog"), "degraded");
    assert!(
        message_of(&report, "site:blog").starts_with(
            "unreachable from AWS us-east-1 only; 3/3 probes reach it (Frankfurt, Tokyo, Virginia): "
        ),
        "{report}"
    );
    // A name that resolves for 2 of 3 probes elsewhere: degraded too.
    assert_eq!(health_of(&report, "dns:names"), "degraded");
    assert!(
        message_of(&report, "dns:names").contains("2/3 probes reach it (Tokyo, Seoul)"),
        "{report}"
    );
    // A private target is not sent to Globalping: its verdict stands, and why is said.
    assert_eq!(health_of(&report, "site:intranet"), "failing");
    assert!(
        message_of(&report, "site:intranet")
            .contains("not confirmed from elsewhere: 127.0.0.1 is a private name or address"),
        "{report}"
    );
    // Without `confirm`, nothing changes.
    assert_eq!(health_of(&report, "site:plain"), "failing");
    assert!(!message_of(&report, "site:plain").contains("confirm"));

    // The degraded monitor reaches only the channel that takes it.
    let wecom = world.wecom_texts();
    let dingtalk = world.dingtalk_texts();
    assert_eq!((wecom.len(), dingtalk.len()), (1, 1), "one digest each");
    assert!(
        wecom[0].contains("blog") && wecom[0].contains("DEGRADED"),
        "{}",
        wecom[0]
    );
    assert!(wecom[0].contains("3/3 probes reach it"), "{}", wecom[0]);
    assert!(!dingtalk[0].contains("blog"), "{}", dingtalk[0]);
    for text in [&wecom[0], &dingtalk[0]] {
        assert!(
            text.contains("also failing from 2/3 probes: Frankfurt, Tokyo"),
            "{text}"
        );
    }

    // Minute 1: the confirmations stand (a confirmed failure until it ends, the rest for five
    // minutes): no probe is spent again, and the words stay.
    let report = world.tick(1, &yaml, TICK).await;
    assert_eq!(world.globalping.created().len(), 4, "no new measurement");
    assert_eq!(health_of(&report, "site:blog"), "degraded");
    assert!(message_of(&report, "site:shop").contains("also failing from 2/3 probes"));

    // Minute 10: the second step of the failing incidents; the degraded one is measured again
    // (its five minutes are over) and is still degraded: never escalated.
    let report = world.tick(10, &yaml, TICK).await;
    let mut again = world.measured()[4..].to_vec();
    again.sort();
    assert_eq!(
        again,
        ["dns example.com", "http local.example.com"],
        "only the degraded monitors are measured again"
    );
    assert_eq!(health_of(&report, "site:blog"), "degraded");
    let wecom = world.wecom_texts();
    assert_eq!(wecom.len(), 2);
    assert!(
        wecom[1].contains("shop") && !wecom[1].contains("blog"),
        "{}",
        wecom[1]
    );

    // Minute 15: blog is down from everywhere now (its degraded confirmation, five minutes old, is
    // measured again): every channel hears of it, at the step due.
    world.globalping.answer_for(
        "local.example.com",
        vec![
            http_probe("Frankfurt", Some(502)),
            http_probe("Tokyo", Some(502)),
            http_probe("Virginia", Some(502)),
        ],
    );
    let report = world.tick(15, &yaml, TICK).await;
    assert_eq!(world.measured().len(), 8);
    assert_eq!(health_of(&report, "site:blog"), "failing", "{report}");
    let dingtalk = world.dingtalk_texts();
    let last = dingtalk.last().unwrap();
    assert!(
        last.contains("blog") && last.contains("also failing from 3/3 probes"),
        "{last}"
    );
}

#[tokio::test]
async fn globalping_refusing_or_failing_leaves_the_verdict_and_says_why() {
    let world = World::start().await;
    let yaml = world.yaml();
    world.globalping.answer_with(500);
    let report = world.tick(0, &yaml, TICK).await;
    assert_eq!(
        health_of(&report, "site:blog"),
        "failing",
        "the check's own verdict stands"
    );
    assert!(
        message_of(&report, "site:blog")
            .ends_with("; not confirmed from elsewhere: Globalping refused the measurement (HTTP 500): Internal Server Error."),
        "{report}"
    );
    let dingtalk = world.dingtalk_texts();
    assert!(
        dingtalk[0].contains("blog"),
        "a failure that could not be confirmed pages: {}",
        dingtalk[0]
    );

    // Out of probes for the hour: 429, said with when it resets.
    let world = World::start().await;
    world.globalping.spend(250, Duration::from_secs(1800));
    let report = world.tick(0, &world.yaml(), TICK).await;
    assert_eq!(health_of(&report, "site:shop"), "failing");
    let said = message_of(&report, "site:shop");
    assert!(
        said.contains(
            "not confirmed from elsewhere: Globalping's rate limit was reached (it resets in 1"
        ) && said.contains("s; it counts probes per hour): set GLOBALPING_TOKEN"),
        "{said}"
    );
    assert!(
        world
            .globalping
            .refused()
            .iter()
            .all(|(status, _)| *status == 429)
    );
}

#[tokio::test]
async fn a_stalling_globalping_never_pushes_the_tick_past_its_deadline() {
    let world = World::start().await;
    world.globalping.stall();
    // The emulator ends an invocation at its deadline (an `Outcome::Timeout`, which `tick` refuses):
    // a report is the tick answering before its 8 s, the confirmations cut short.
    let timeout = Duration::from_secs(8);
    let report = world.tick(0, &world.yaml(), timeout).await;
    assert_eq!(health_of(&report, "site:shop"), "failing");
    assert!(
        message_of(&report, "site:shop")
            .contains("not confirmed from elsewhere: Globalping did not answer before the invocation's deadline"),
        "{report}"
    );
    assert_eq!(world.wecom_texts().len(), 1, "the alerts still went out");
}
