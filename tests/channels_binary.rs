//! Channels as the deployed function uses them: the real `site-status` binary under the Lambda
//! Runtime API emulator, configured only through its environment.

mod support;

use std::time::Duration;

use support::lambda::{Outcome, RuntimeApi, scheduled_event};
use support::moto::{self, Moto};
use support::tencent::{self, FakeTencent};
use support::wecom::FakeWeCom;

const BINARY: &str = env!("CARGO_BIN_EXE_site-status");
const WITHIN: Duration = Duration::from_secs(60);

const WECOM_KEY: &str = "robot-key-that-must-never-print-7f3a";
const WRONG_WECOM_KEY: &str = "wrong-robot-key-that-must-never-print-91c2";
const WRONG_TENCENT_KEY: &str = "wrong-tencent-secret-that-must-never-print";
const SESSION_TOKEN: &str = "tencent-session-token-that-must-never-print";

struct World {
    site: std::net::SocketAddr,
    robot: FakeWeCom,
    api: FakeTencent,
    moto: Moto,
}

impl World {
    async fn start() -> World {
        let (site, _) = support::site::start().await;
        let moto = Moto::start().await;
        moto.verify_sender("alerts@example.com").await;
        World {
            site,
            robot: FakeWeCom::start(WECOM_KEY).await,
            api: FakeTencent::start().await,
            moto,
        }
    }

    /// Every channel on, pointing at the fakes; a failing site so there is an alert.
    fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = self.moto.env();
        env.extend([
            ("SITE_URLS", format!("http://{}/status/503", self.site)),
            ("SITE_RETRIES", "0".into()),
            ("WECOM_WEBHOOK_URL", self.robot.url()),
            ("EMAIL_FROM", "alerts@example.com".into()),
            ("EMAIL_TO", "oncall@example.com".into()),
            ("SMS_PHONE_NUMBERS", "13800000000".into()),
            ("SMS_SDK_APP_ID", "1400000001".into()),
            ("SMS_SIGN_NAME", "lookout".into()),
            ("SMS_TEMPLATE_ID", "2000001".into()),
            ("TENCENTCLOUD_SECRET_ID", tencent::SECRET_ID.into()),
            ("TENCENTCLOUD_SECRET_KEY", tencent::SECRET_KEY.into()),
            ("TENCENTCLOUD_SMS_ENDPOINT", self.api.url()),
            ("RUST_LOG", "trace".into()),
        ]);
        env
    }
}

fn set(env: &mut Vec<(&'static str, String)>, var: &'static str, value: String) {
    env.retain(|(k, _)| *k != var);
    env.push((var, value));
}

/// Runs one scheduled tick; returns the outcome and everything the process printed.
async fn run_tick(env: &[(&'static str, String)]) -> (Outcome, String) {
    let api = RuntimeApi::start().await;
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let function = api.spawn(BINARY, &pairs).await;
    let outcome = api
        .invoke(scheduled_event("tick-1", "2026-11-23T02:10:00Z"), WITHIN)
        .await;
    let printed = function.stop().await;
    (outcome, printed)
}

fn assert_no_secret(text: &str) {
    for secret in [
        WECOM_KEY,
        WRONG_WECOM_KEY,
        tencent::SECRET_KEY,
        WRONG_TENCENT_KEY,
        SESSION_TOKEN,
        moto::SECRET_ACCESS_KEY,
    ] {
        assert!(
            !text.contains(secret),
            "a secret was printed: {secret}\n{text}"
        );
    }
}

#[tokio::test]
async fn every_configured_channel_delivers_the_digest() {
    let world = World::start().await;
    let (outcome, printed) = run_tick(&world.env()).await;
    let Outcome::Response(report) = outcome else {
        panic!("expected a report, got {outcome:?}\n{printed}");
    };
    let deliveries = report["deliveries"].as_array().expect("deliveries");
    let channels: Vec<&str> = deliveries
        .iter()
        .map(|d| d["channel"].as_str().unwrap())
        .collect();
    assert_eq!(channels, vec!["wecom", "email", "sms"]);
    for delivery in deliveries {
        assert_eq!(delivery["outcome"], "delivered", "{delivery}");
    }
    assert_eq!(world.robot.accepted().len(), 1);
    assert_eq!(world.api.received().len(), 1);
    let data = world.moto.data().await.to_string();
    assert!(
        data.contains("oncall@example.com"),
        "SES got the email: {data}"
    );
    assert_no_secret(&printed);
    assert_no_secret(&report.to_string());
}

#[tokio::test]
async fn when_every_channel_is_refused_the_invocation_fails_and_no_secret_is_printed() {
    let world = World::start().await;
    let mut env = world.env();
    set(
        &mut env,
        "WECOM_WEBHOOK_URL",
        world.robot.url_with_key(WRONG_WECOM_KEY),
    );
    set(
        &mut env,
        "TENCENTCLOUD_SECRET_KEY",
        WRONG_TENCENT_KEY.into(),
    );
    set(&mut env, "TENCENTCLOUD_SESSION_TOKEN", SESSION_TOKEN.into());
    set(&mut env, "EMAIL_FROM", "unverified@example.com".into());
    let (outcome, printed) = run_tick(&env).await;
    let Outcome::Error(error) = outcome else {
        panic!("expected an invocation error, got {outcome:?}");
    };
    let message = error["errorMessage"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("no channel delivered the alerts"),
        "{message}"
    );
    assert!(
        message.contains("93000") && message.contains("MessageRejected"),
        "{message}"
    );
    assert!(message.contains("AuthFailure"), "{message}");
    assert_no_secret(&error.to_string());
    assert_no_secret(&printed);
}

#[tokio::test]
async fn when_every_channel_is_unreachable_no_secret_is_printed() {
    let world = World::start().await;
    let dead = support::site::refused_port().await;
    let mut env = world.env();
    set(
        &mut env,
        "WECOM_WEBHOOK_URL",
        format!("http://{dead}/cgi-bin/webhook/send?key={WECOM_KEY}"),
    );
    set(
        &mut env,
        "TENCENTCLOUD_SMS_ENDPOINT",
        format!("http://{dead}/"),
    );
    set(&mut env, "TENCENTCLOUD_SESSION_TOKEN", SESSION_TOKEN.into());
    set(&mut env, "AWS_ENDPOINT_URL_SESV2", format!("http://{dead}"));
    let (outcome, printed) = run_tick(&env).await;
    let Outcome::Error(error) = outcome else {
        panic!("expected an invocation error, got {outcome:?}");
    };
    assert!(
        error["errorMessage"]
            .as_str()
            .unwrap_or_default()
            .contains("could not reach"),
        "{error}"
    );
    assert_no_secret(&error.to_string());
    assert_no_secret(&printed);
}

#[tokio::test]
async fn the_same_scheduled_event_delivered_twice_sends_once() {
    let world = World::start().await;
    let api = RuntimeApi::start().await;
    let env = world.env();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let _function = api.spawn(BINARY, &pairs).await;
    let event = scheduled_event(
        "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "2026-11-23T02:10:00Z",
    );
    let Outcome::Response(first) = api.invoke(event.clone(), WITHIN).await else {
        panic!("the first invocation failed");
    };
    let Outcome::Response(again) = api.invoke(event, WITHIN).await else {
        panic!("the second invocation failed");
    };
    assert_eq!(first["duplicate"], false);
    assert_eq!(first["summary"]["alerts"], 1);
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["alerts"], serde_json::json!([]));
    assert_eq!(world.robot.accepted().len(), 1);
    assert_eq!(world.api.received().len(), 1);
}
