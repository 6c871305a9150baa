//! The real binaries against upstreams that misbehave on purpose: endless bodies, deep nesting,
//! absurd counts, secrets echoed back, a redirect into the Runtime API. Each answers in time, stays
//! small, and prints no secret.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::chinaz::{FakeChinaz, FakeNode};
use support::lambda::{Function, Outcome, RuntimeApi, scheduled_event};
use support::tencent::{self, FakeTencent, INSTANCE_ID};
use support::wecom::FakeWeCom;

const WITHIN: Duration = Duration::from_secs(90);
/// The most a function's resident memory may reach, whatever it is sent (it idles at about 10 MB;
/// Lambda's smallest size is 128 MB).
const MEMORY_BOUND_MB: f64 = 64.0;

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Peak resident memory of a running process, in MB.
fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the process");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM");
    let kb: f64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("a number");
    kb / 1024.0
}

/// Runs one scheduled tick; the report (or error), the peak memory, and everything printed.
async fn tick(binary: &str, env: &[(&str, &str)]) -> (Outcome, f64, String) {
    let api = RuntimeApi::start().await;
    let function: Function = api.spawn(binary, env).await;
    let outcome = api.invoke(scheduled_event("hostile", &now()), WITHIN).await;
    let pid = function.pid().await.expect("running");
    let memory = peak_rss_mb(pid);
    let printed = function.stop().await;
    (outcome, memory, printed)
}

fn report(outcome: &Outcome) -> &Value {
    match outcome {
        Outcome::Response(report) => report,
        other => panic!("expected a report, got {other:?}"),
    }
}

fn kafka_env(endpoint: &str) -> Environment {
    vec![
        ("CKAFKA_INSTANCE_ID", INSTANCE_ID.into()),
        ("CKAFKA_GROUPS", "billing".into()),
        ("TENCENTCLOUD_SECRET_ID", tencent::SECRET_ID.into()),
        ("TENCENTCLOUD_SECRET_KEY", tencent::SECRET_KEY.into()),
        ("TENCENTCLOUD_CKAFKA_ENDPOINT", endpoint.into()),
    ]
}

/// A binary's environment: variable, value.
type Environment = Vec<(&'static str, String)>;

fn pairs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test]
async fn endless_answers_from_every_upstream_are_cut_off_and_memory_stays_small() {
    let endless = support::site::endless_server().await;
    let base = format!("http://{endless}");
    let cases: Vec<(&str, &str, Environment)> = vec![
        (
            "chinaz page",
            env!("CARGO_BIN_EXE_speed-test"),
            vec![
                ("SPEEDTEST_TARGET", "www.example.com".into()),
                ("SPEEDTEST_BASE_URL", base.clone()),
            ],
        ),
        (
            "globalping",
            env!("CARGO_BIN_EXE_speed-test"),
            vec![
                ("SPEEDTEST_TARGET", "www.example.com".into()),
                ("SPEEDTEST_PROVIDER", "globalping".into()),
                ("GLOBALPING_BASE_URL", base.clone()),
            ],
        ),
        (
            "ckafka",
            env!("CARGO_BIN_EXE_kafka-lag"),
            kafka_env(&format!("{base}/")),
        ),
    ];
    for (name, binary, env) in cases {
        let (outcome, memory, _) = tick(binary, &pairs(&env)).await;
        let result = &report(&outcome)["results"][0];
        assert_eq!(result["health"], "monitor_error", "{name}: {result}");
        let message = result["failure"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("larger than"), "{name}: {message}");
        assert!(memory < MEMORY_BOUND_MB, "{name}: {memory:.1} MB");
    }
}

#[tokio::test]
async fn endless_or_deeply_nested_node_replies_are_unreadable_not_a_crash() {
    let mut nodes: Vec<FakeNode> = (1..=4)
        .map(|i| FakeNode::new(i, 1, &format!("节点{i}[电信]"), 5, "100"))
        .collect();
    nodes[0].endless = true;
    nodes[1].raw_reply = Some(format!("({}", "{a:".repeat(100_000)));
    nodes[2].raw_reply = Some(format!("({}", "[".repeat(1_000_000)));
    let fake = FakeChinaz::start(nodes).await;
    let base = fake.base_url();
    let (outcome, memory, printed) = tick(
        env!("CARGO_BIN_EXE_speed-test"),
        &[
            ("SPEEDTEST_TARGET", "www.example.com"),
            ("SPEEDTEST_BASE_URL", &base),
        ],
    )
    .await;
    let result = &report(&outcome)["results"][0];
    assert!(
        !printed.contains("panicked") && !printed.contains("overflow"),
        "{printed}"
    );
    // Three of four replies cannot be read: the page's contract has drifted.
    assert_eq!(result["health"], "monitor_error", "{result}");
    assert!(memory < MEMORY_BOUND_MB, "{memory:.1} MB");
}

#[tokio::test]
async fn a_billion_topics_is_a_monitor_error_without_a_billion_requests() {
    let api = FakeTencent::start().await;
    api.set_group(
        "billing",
        (0..10)
            .map(|i| tencent::topic(&format!("t{i}"), &[(1, 2)]))
            .collect(),
    );
    api.claim_total(1_000_000_000);
    let env = kafka_env(&api.url());
    let (outcome, memory, _) = tick(env!("CARGO_BIN_EXE_kafka-lag"), &pairs(&env)).await;
    let result = &report(&outcome)["results"][0];
    assert_eq!(result["health"], "monitor_error", "{result}");
    assert!(
        result["failure"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("1000000000 topics"),
        "{result}"
    );
    assert_eq!(api.pages("billing"), 1);
    assert!(memory < MEMORY_BOUND_MB, "{memory:.1} MB");
}

#[tokio::test]
async fn an_endless_robot_answer_fails_the_delivery_and_keeps_the_notice_owed() {
    let endless = support::site::endless_server().await;
    let (site, _) = support::site::start().await;
    let failing = format!("http://{site}/status/503");
    let robot = format!("http://{endless}/cgi-bin/webhook/send?key=endless-robot-key");
    let (outcome, memory, _) = tick(
        env!("CARGO_BIN_EXE_site-status"),
        &[
            ("SITE_URLS", &failing),
            ("SITE_RETRIES", "0"),
            ("WECOM_WEBHOOK_URL", &robot),
        ],
    )
    .await;
    let Outcome::Error(error) = &outcome else {
        panic!("the only channel failed: {outcome:?}");
    };
    assert_eq!(error["errorType"], "Undelivered", "a readable error type");
    assert!(
        error["errorMessage"]
            .as_str()
            .unwrap_or_default()
            .contains("larger than"),
        "{error}"
    );
    assert!(memory < MEMORY_BOUND_MB, "{memory:.1} MB");
}

#[tokio::test]
async fn a_site_redirecting_into_the_runtime_api_does_not_take_the_next_event() {
    let api = RuntimeApi::start().await;
    let next = format!("http://{}/2018-06-01/runtime/invocation/next", api.address);
    let sly = support::site::redirect_server(next).await;
    let url = format!("http://{sly}/");
    let _function = api
        .spawn(
            env!("CARGO_BIN_EXE_site-status"),
            &[("SITE_URLS", &url), ("SITE_RETRIES", "0")],
        )
        .await;
    let first = api.invoke(scheduled_event("first", &now()), WITHIN).await;
    let result = &report(&first)["results"][0];
    assert_eq!(result["failure"]["kind"], "redirect", "{result}");
    assert!(
        result["failure"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Lambda Runtime API"),
        "{result}"
    );
    // The second event reaches the function, not the check.
    let second = api.invoke(scheduled_event("second", &now()), WITHIN).await;
    assert_eq!(report(&second)["tick"]["id"], "second");
}

const SESSION_TOKEN: &str = "tmp-session+token/with=signs-that-must-never-print";
const GLOBALPING_TOKEN: &str = "gp+token/that=must-never-print";
const WECOM_KEY: &str = "robot+key/that=must-never-print";

/// Every form in which a secret could be printed.
fn forms(secret: &str) -> Vec<String> {
    let form: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let upper: String = secret
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    vec![secret.to_owned(), form, upper.clone(), upper.to_lowercase()]
}

fn assert_nowhere(secret: &str, texts: &[&str]) {
    for form in forms(secret) {
        for text in texts {
            assert!(!text.contains(&form), "{form:?} was printed:\n{text}");
        }
    }
}

#[tokio::test]
async fn upstreams_that_echo_secrets_never_get_them_printed() {
    // CKafka quoting the session token back.
    let ckafka = FakeTencent::start().await;
    ckafka.echo_token();
    let mut env = kafka_env(&ckafka.url());
    env.push(("TENCENTCLOUD_SESSION_TOKEN", SESSION_TOKEN.into()));
    env.push(("RUST_LOG", "trace".into()));
    let (outcome, _, printed) = tick(env!("CARGO_BIN_EXE_kafka-lag"), &pairs(&env)).await;
    let answer = format!("{outcome:?}");
    assert!(answer.contains("AuthFailure.TokenFailure"), "{answer}");
    assert_nowhere(SESSION_TOKEN, &[&answer, &printed]);

    // Globalping's 401 quoting the token back.
    let globalping = support::globalping::FakeGlobalping::start(Vec::new(), 0).await;
    globalping.refuse_tokens();
    let base = globalping.base_url();
    let (outcome, _, printed) = tick(
        env!("CARGO_BIN_EXE_speed-test"),
        &[
            ("SPEEDTEST_TARGET", "www.example.com"),
            ("SPEEDTEST_PROVIDER", "globalping"),
            ("GLOBALPING_BASE_URL", &base),
            ("GLOBALPING_TOKEN", GLOBALPING_TOKEN),
            ("RUST_LOG", "trace"),
        ],
    )
    .await;
    let answer = format!("{outcome:?}");
    assert!(answer.contains("401"), "{answer}");
    assert_nowhere(GLOBALPING_TOKEN, &[&answer, &printed]);

    // The WeCom robot quoting the request's query back as it came and the key form-encoded, the
    // key written in the URL form-encoded (`+` as %2B) and raw (`+` and `/` as they are, which a
    // query decodes as a space): the function's error to the Runtime API (which Lambda writes to
    // its logs and the failure queue) names the robot's refusal, never the key.
    let robot = FakeWeCom::start(WECOM_KEY).await;
    robot.echo_key();
    let (site, _) = support::site::start().await;
    let failing = format!("http://{site}/status/503");
    let encoded: String = url::form_urlencoded::byte_serialize(WECOM_KEY.as_bytes()).collect();
    for key in [encoded.as_str(), WECOM_KEY] {
        let webhook = format!("http://{}/cgi-bin/webhook/send?key={key}", robot.address);
        let (outcome, _, printed) = tick(
            env!("CARGO_BIN_EXE_site-status"),
            &[
                ("SITE_URLS", &failing),
                ("SITE_RETRIES", "0"),
                ("WECOM_WEBHOOK_URL", &webhook),
                ("RUST_LOG", "trace"),
            ],
        )
        .await;
        let answer = format!("{outcome:?}");
        assert!(
            matches!(&outcome, Outcome::Error(error) if error.to_string().contains("93000")),
            "{answer}"
        );
        assert_nowhere(WECOM_KEY, &[&answer, &printed]);
        assert_nowhere("robot key/that=must-never-print", &[&answer, &printed]);
    }
}
