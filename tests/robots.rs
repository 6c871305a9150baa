//! The chat robots and the webhook against fakes as strict as the services: signatures recomputed,
//! limits enforced, retry hints honoured; and one digest to all five at once through the real
//! binary, where one refusal stops nothing else and no secret is ever printed.

mod support;

use std::time::Duration;

use lookout::alerting::Digest;
use lookout::alerting::render::Style;
use lookout::config::{Env, read};
use lookout::notify::dingtalk::{DingTalkNotifier, DingTalkSettings};
use lookout::notify::feishu::{FeishuNotifier, FeishuSettings};
use lookout::notify::slack::{SlackNotifier, SlackSettings};
use lookout::notify::telegram::{TelegramNotifier, TelegramSettings};
use lookout::notify::webhook::{WebhookNotifier, WebhookSettings};
use lookout::notify::{Channel, DeliveryOutcome, Notifier, fan_out};
use lookout::retry::Backoff;
use serde_json::Value;
use support::dingtalk::FakeDingTalk;
use support::feishu::FakeFeishu;
use support::lambda::{Outcome, RuntimeApi, scheduled_event};
use support::receiver::FakeReceiver;
use support::slack::FakeSlack;
use support::telegram::FakeTelegram;

const DINGTALK_TOKEN: &str = "dingtalk-token-never-printed-5b1e";
const DINGTALK_SECRET: &str = "SECdingtalk-secret-never-printed-77aa";
const WRONG_DINGTALK_SECRET: &str = "SECwrong-dingtalk-secret-never-printed-0c3d";
const FEISHU_HOOK: &str = "feishu-hook-never-printed-3f9c";
const FEISHU_SECRET: &str = "feishu-secret-never-printed-81de";
const SLACK_TOKEN: &str = "T000-B000-slack-token-never-printed";
const TELEGRAM_TOKEN: &str = "123456:telegram-token-never-printed-AbC";
const TELEGRAM_CHAT: &str = "-1001234567890";
const WEBHOOK_SECRET: &str = "webhook-secret-never-printed-6e2a";

fn env(pairs: &[(&str, &str)]) -> Env {
    Env::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
}

fn quick() -> Backoff {
    Backoff {
        base: Duration::from_millis(50),
        max: Duration::from_millis(200),
        max_attempts: 3,
    }
}

async fn send(notifier: Box<dyn Notifier>, digest: &Digest) -> lookout::notify::Delivery {
    let channels = vec![Channel::from(notifier)];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    fan_out(&channels, |_| Some(digest), quick(), deadline)
        .await
        .pop()
        .expect("a delivery")
}

fn dingtalk(url: &str, secret: &str) -> Box<dyn Notifier> {
    let settings = read::settings_if_set::<DingTalkSettings>(&env(&[
        ("DINGTALK_WEBHOOK_URL", url),
        ("DINGTALK_SECRET", secret),
        ("DINGTALK_AT_MOBILES", "13800000000"),
    ]))
    .expect("settings")
    .expect("configured");
    Box::new(DingTalkNotifier::new(settings, Style::default()).expect("client"))
}

#[tokio::test]
async fn dingtalk_signs_mentions_and_is_throttled_after_twenty_a_minute() {
    let robot = FakeDingTalk::start(DINGTALK_TOKEN, Some(DINGTALK_SECRET)).await;
    let delivery = send(
        dingtalk(&robot.url(), DINGTALK_SECRET),
        &support::scripted::digest_with(0),
    )
    .await;
    assert_eq!(delivery.outcome, DeliveryOutcome::Delivered, "{delivery:?}");
    let sent = &robot.accepted()[0];
    assert!(
        sent["markdown"]["text"]
            .as_str()
            .unwrap()
            .contains("@13800000000")
    );
    assert_eq!(sent["at"]["atMobiles"][0], "13800000000");

    let wrong = send(
        dingtalk(&robot.url(), WRONG_DINGTALK_SECRET),
        &support::scripted::digest_with(1),
    )
    .await;
    assert_eq!(wrong.outcome, DeliveryOutcome::Failed);
    assert_eq!(wrong.attempts, 1, "a signature refusal is not retried");
    let reason = wrong.error.unwrap_or_default();
    assert!(
        reason.contains("310000") && reason.contains("signature does not match"),
        "{reason}"
    );

    let notifier = dingtalk(&robot.url(), DINGTALK_SECRET);
    for i in 1..20 {
        notifier
            .deliver(&support::scripted::digest_with(i))
            .await
            .expect("within twenty a minute");
    }
    let throttled = notifier
        .deliver(&support::scripted::digest_with(21))
        .await
        .unwrap_err();
    assert!(throttled.reason.contains("130101") && !throttled.retryable && throttled.owed);
}

#[tokio::test]
async fn the_dingtalk_fake_refuses_a_timestamp_more_than_an_hour_off() {
    let robot = FakeDingTalk::start(DINGTALK_TOKEN, Some(DINGTALK_SECRET)).await;
    let old = (chrono::Utc::now() - chrono::Duration::minutes(61))
        .timestamp_millis()
        .to_string();
    let sign: String = url::form_urlencoded::byte_serialize(
        support::dingtalk::expected_sign(DINGTALK_SECRET, &old).as_bytes(),
    )
    .collect();
    let answer: Value = reqwest::Client::new()
        .post(format!("{}&timestamp={old}&sign={sign}", robot.url()))
        .json(&serde_json::json!({"msgtype": "markdown", "markdown": {"title": "t", "text": "x"}}))
        .send()
        .await
        .expect("posted")
        .json()
        .await
        .expect("json");
    assert_eq!(answer["errcode"], 310000);
    assert!(answer["errmsg"].as_str().unwrap().contains("签名过期"));
    let error = lookout::notify::dingtalk::read_reply(&answer).unwrap_err();
    assert!(error.reason.contains("clock"), "{}", error.reason);
}

/// The Feishu fake's answer to the digest signed at `timestamp`.
async fn feishu_answer(bot: &FakeFeishu, timestamp: i64) -> Value {
    let body = lookout::notify::feishu::request_body(
        &support::scripted::digest_with(0),
        &Style::default(),
        Some(FEISHU_SECRET),
        timestamp,
    );
    reqwest::Client::new()
        .post(bot.url())
        .json(&body)
        .send()
        .await
        .expect("posted")
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn the_feishu_fake_refuses_a_timestamp_more_than_an_hour_off() {
    let bot = FakeFeishu::start(FEISHU_HOOK, Some(FEISHU_SECRET)).await;
    let old = (chrono::Utc::now() - chrono::Duration::minutes(61)).timestamp();
    let answer = feishu_answer(&bot, old).await;
    assert_eq!(answer["code"], 19021, "{answer}");
    // The same body signed now passes: only the timestamp was wrong.
    let answer = feishu_answer(&bot, chrono::Utc::now().timestamp()).await;
    assert_eq!(answer["code"], 0, "{answer}");
}

fn feishu(url: &str, secret: &str) -> Box<dyn Notifier> {
    let settings = read::settings_if_set::<FeishuSettings>(&env(&[
        ("FEISHU_WEBHOOK_URL", url),
        ("FEISHU_SECRET", secret),
    ]))
    .expect("settings")
    .expect("configured");
    Box::new(FeishuNotifier::new(settings, Style::default()).expect("client"))
}

#[tokio::test]
async fn feishu_signs_a_red_card_refuses_a_wrong_secret_and_limits_five_a_second() {
    let bot = FakeFeishu::start(FEISHU_HOOK, Some(FEISHU_SECRET)).await;
    let delivery = send(
        feishu(&bot.url(), FEISHU_SECRET),
        &support::scripted::digest_with(0),
    )
    .await;
    assert_eq!(delivery.outcome, DeliveryOutcome::Delivered, "{delivery:?}");
    assert_eq!(bot.accepted()[0]["card"]["header"]["template"], "red");

    let wrong = send(
        feishu(&bot.url(), "not-the-secret"),
        &support::scripted::digest_with(1),
    )
    .await;
    assert_eq!(
        (wrong.outcome, wrong.attempts),
        (DeliveryOutcome::Failed, 1)
    );
    assert!(wrong.error.unwrap_or_default().contains("19021"));

    let notifier = feishu(&bot.url(), FEISHU_SECRET);
    let mut refused = None;
    for i in 0..6 {
        if let Err(error) = notifier.deliver(&support::scripted::digest_with(i)).await {
            refused = Some(error);
        }
    }
    let refused = refused.expect("the sixth in a second is refused");
    assert!(
        refused.reason.contains("11232") && refused.retryable,
        "{}",
        refused.reason
    );
}

#[tokio::test]
async fn slack_and_telegram_wait_as_long_as_they_ask_then_deliver() {
    let slack = FakeSlack::start(SLACK_TOKEN).await;
    slack.rate_limit_next(1, 1);
    let settings =
        read::settings_if_set::<SlackSettings>(&env(&[("SLACK_WEBHOOK_URL", &slack.url())]))
            .unwrap()
            .unwrap();
    let started = std::time::Instant::now();
    let delivery = send(
        Box::new(SlackNotifier::new(settings, Style::default()).unwrap()),
        &support::scripted::digest_with(2),
    )
    .await;
    assert_eq!(
        (delivery.outcome, delivery.attempts),
        (DeliveryOutcome::Delivered, 2)
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was honoured"
    );
    assert_eq!(slack.accepted().len(), 1);

    let telegram = FakeTelegram::start(TELEGRAM_TOKEN, TELEGRAM_CHAT).await;
    telegram.flood_next(1, 1);
    let settings = read::settings_if_set::<TelegramSettings>(&env(&[
        ("TELEGRAM_BOT_TOKEN", TELEGRAM_TOKEN),
        ("TELEGRAM_CHAT_ID", TELEGRAM_CHAT),
        ("TELEGRAM_BASE_URL", &telegram.base_url()),
    ]))
    .unwrap()
    .unwrap();
    // A target full of HTML: the strict fake refuses anything unescaped.
    let mut digest = support::scripted::digest_with(0);
    digest.alerts[0].target = "https://shop.example/?a=1&b=<script>".into();
    let started = std::time::Instant::now();
    let delivery = send(
        Box::new(TelegramNotifier::new(settings, Style::default()).unwrap()),
        &digest,
    )
    .await;
    assert_eq!(
        (delivery.outcome, delivery.attempts),
        (DeliveryOutcome::Delivered, 2),
        "{delivery:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "retry_after was honoured"
    );
    let sent = telegram.accepted()[0]["text"].as_str().unwrap().to_owned();
    assert!(sent.contains("&amp;b=&lt;script&gt;"), "{sent}");

    // Slack takes about one message a second: a second one at once waits for its Retry-After.
    let settings =
        read::settings_if_set::<SlackSettings>(&env(&[("SLACK_WEBHOOK_URL", &slack.url())]))
            .unwrap()
            .unwrap();
    let notifier = SlackNotifier::new(settings, Style::default()).unwrap();
    let first = notifier.deliver(&support::scripted::digest_with(3)).await;
    let second = notifier
        .deliver(&support::scripted::digest_with(4))
        .await
        .unwrap_err();
    assert!(first.is_ok() || first.as_ref().is_err_and(|e| e.retryable));
    assert!(
        second.retryable && second.retry_after == Some(Duration::from_secs(1)),
        "{second:?}"
    );

    let settings = read::settings_if_set::<TelegramSettings>(&env(&[
        ("TELEGRAM_BOT_TOKEN", "123456:wrong-token-never-printed"),
        ("TELEGRAM_CHAT_ID", TELEGRAM_CHAT),
        ("TELEGRAM_BASE_URL", &telegram.base_url()),
    ]))
    .unwrap()
    .unwrap();
    let refused = send(
        Box::new(TelegramNotifier::new(settings, Style::default()).unwrap()),
        &digest,
    )
    .await;
    assert_eq!(
        (refused.outcome, refused.attempts),
        (DeliveryOutcome::Failed, 1)
    );
    let reason = refused.error.unwrap_or_default();
    assert!(
        reason.contains("401") && !reason.contains("wrong-token"),
        "{reason}"
    );
}

/// Verifies a webhook signature with Python's own hmac module: an implementation independent of
/// the one that signed.
fn python_verifies(secret: &str, timestamp: &str, body: &str, signature: &str) -> bool {
    let script = "import hmac,hashlib,sys\n\
        secret, timestamp, signature = sys.argv[1], sys.argv[2], sys.argv[3]\n\
        body = sys.stdin.buffer.read()\n\
        mac = hmac.new(secret.encode(), timestamp.encode() + b'.' + body, hashlib.sha256).hexdigest()\n\
        sys.exit(0 if hmac.compare_digest('sha256=' + mac, signature) else 1)\n";
    let mut child = std::process::Command::new("python3")
        .args(["-c", script, secret, timestamp, signature])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body.as_bytes())
        .expect("write");
    child.wait().expect("python3 ran").success()
}

#[tokio::test]
async fn the_webhook_posts_the_digest_signed_and_retries_a_5xx() {
    let receiver = FakeReceiver::start().await;
    receiver.answer(&[503]);
    let settings = read::settings_if_set::<WebhookSettings>(&env(&[
        ("WEBHOOK_URL", &receiver.url()),
        ("WEBHOOK_SECRET", WEBHOOK_SECRET),
    ]))
    .unwrap()
    .unwrap();
    let delivery = send(
        Box::new(WebhookNotifier::new(settings, Style::default()).unwrap()),
        &support::scripted::digest_with(1),
    )
    .await;
    assert_eq!(
        (delivery.outcome, delivery.attempts),
        (DeliveryOutcome::Delivered, 2)
    );
    let (headers, body) = receiver.received().pop().expect("a post");
    let timestamp = headers["x-lookout-timestamp"].to_str().unwrap();
    let signature = headers["x-lookout-signature"].to_str().unwrap();
    assert!(python_verifies(WEBHOOK_SECRET, timestamp, &body, signature));
    assert!(!python_verifies(
        "another-secret",
        timestamp,
        &body,
        signature
    ));
    let digest: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(digest["source"], "lookout");
    assert_eq!(digest["alerts"][1]["state"], "failing");
    assert_eq!(digest["alerts"][1]["kind"], "status");
}

struct Five {
    site: std::net::SocketAddr,
    dingtalk: FakeDingTalk,
    feishu: FakeFeishu,
    slack: FakeSlack,
    telegram: FakeTelegram,
    receiver: FakeReceiver,
    dir: tempfile::TempDir,
}

impl Five {
    async fn start() -> Five {
        let (site, _) = support::site::start().await;
        Five {
            site,
            dingtalk: FakeDingTalk::start(DINGTALK_TOKEN, Some(DINGTALK_SECRET)).await,
            feishu: FakeFeishu::start(FEISHU_HOOK, Some(FEISHU_SECRET)).await,
            slack: FakeSlack::start(SLACK_TOKEN).await,
            telegram: FakeTelegram::start(TELEGRAM_TOKEN, TELEGRAM_CHAT).await,
            receiver: FakeReceiver::start().await,
            dir: tempfile::tempdir().expect("a folder"),
        }
    }

    /// lookout.yaml with the five channels (secrets as `${NAME}`), and the variables for it.
    fn config(&self, secrets: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
        let text = format!(
            r#"defaults:
  language: en
channels:
  ding: {{type: dingtalk, webhook_url: "${{DINGTALK_WEBHOOK_URL}}", secret: "${{DINGTALK_SECRET}}", at_mobiles: ["13800000000"]}}
  fei: {{type: feishu, webhook_url: "${{FEISHU_WEBHOOK_URL}}", secret: "${{FEISHU_SECRET}}"}}
  team: {{type: slack, webhook_url: "${{SLACK_WEBHOOK_URL}}"}}
  tg: {{type: telegram, bot_token: "${{TELEGRAM_BOT_TOKEN}}", chat_id: "{TELEGRAM_CHAT}", base_url: "{}"}}
  hook: {{type: webhook, url: "{}", secret: "${{WEBHOOK_SECRET}}"}}
monitors:
  - {{name: shop, type: site, url: "http://{}/status/503", retries: 0}}
"#,
            self.telegram.base_url(),
            self.receiver.url(),
            self.site
        );
        let path = self.dir.path().join("lookout.yaml");
        std::fs::write(&path, text).expect("write lookout.yaml");
        let mut vars: Vec<(&'static str, String)> = vec![
            ("LOOKOUT_CONFIG", path.to_string_lossy().into_owned()),
            ("RUST_LOG", "trace".into()),
            ("DINGTALK_WEBHOOK_URL", self.dingtalk.url()),
            ("DINGTALK_SECRET", DINGTALK_SECRET.into()),
            ("FEISHU_WEBHOOK_URL", self.feishu.url()),
            ("FEISHU_SECRET", FEISHU_SECRET.into()),
            ("SLACK_WEBHOOK_URL", self.slack.url()),
            ("TELEGRAM_BOT_TOKEN", TELEGRAM_TOKEN.into()),
            ("WEBHOOK_SECRET", WEBHOOK_SECRET.into()),
        ];
        for (var, value) in secrets {
            vars.retain(|(k, _)| k != var);
            vars.push((var, value.clone()));
        }
        vars
    }
}

async fn tick(vars: &[(&'static str, String)]) -> (Outcome, String) {
    let api = RuntimeApi::start().await;
    let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let function = api.spawn(env!("CARGO_BIN_EXE_site-status"), &pairs).await;
    let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let outcome = api
        .invoke(
            scheduled_event("five-robots", &time),
            Duration::from_secs(60),
        )
        .await;
    let printed = function.stop().await;
    (outcome, printed)
}

fn assert_no_secret(text: &str) {
    for secret in [
        DINGTALK_TOKEN,
        DINGTALK_SECRET,
        WRONG_DINGTALK_SECRET,
        FEISHU_HOOK,
        FEISHU_SECRET,
        SLACK_TOKEN,
        "telegram-token-never-printed",
        "wrong-token-never-printed",
        WEBHOOK_SECRET,
    ] {
        assert!(!text.contains(secret), "a secret was printed: {secret}");
    }
}

#[tokio::test]
async fn one_digest_reaches_all_five_at_once_and_a_wrong_dingtalk_secret_stops_only_dingtalk() {
    let five = Five::start().await;
    let vars = five.config(&[("DINGTALK_SECRET", WRONG_DINGTALK_SECRET.into())]);
    let (outcome, printed) = tick(&vars).await;
    let Outcome::Response(report) = outcome else {
        panic!("expected a report: {outcome:?}");
    };
    let deliveries: Vec<(String, String, String)> = report["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .map(|d| {
            (
                d["channel"].as_str().unwrap_or_default().to_owned(),
                d["outcome"].as_str().unwrap_or_default().to_owned(),
                d["error"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let outcome_of = |name: &str| {
        deliveries
            .iter()
            .find(|(c, _, _)| c == name)
            .unwrap_or_else(|| panic!("no delivery to {name}: {deliveries:?}"))
    };
    let ding = outcome_of("ding");
    assert_eq!(ding.1, "failed");
    assert!(
        ding.2.contains("310000") && ding.2.contains("signature does not match: check secret"),
        "{}",
        ding.2
    );
    for name in ["fei", "team", "tg", "hook"] {
        assert_eq!(outcome_of(name).1, "delivered", "{deliveries:?}");
    }
    assert!(five.dingtalk.accepted().is_empty());
    assert_eq!(five.feishu.accepted().len(), 1);
    assert_eq!(five.slack.accepted().len(), 1);
    assert_eq!(five.telegram.accepted().len(), 1);
    let (headers, body) = five
        .receiver
        .received()
        .pop()
        .expect("the webhook got the digest");
    assert!(python_verifies(
        WEBHOOK_SECRET,
        headers["x-lookout-timestamp"].to_str().unwrap(),
        &body,
        headers["x-lookout-signature"].to_str().unwrap()
    ));
    assert!(
        five.telegram.accepted()[0]["text"]
            .as_str()
            .unwrap()
            .contains("1 failing")
    );
    assert_no_secret(&printed);
    assert_no_secret(&report.to_string());
}

#[tokio::test]
async fn when_every_robot_refuses_at_trace_level_no_secret_is_printed() {
    let five = Five::start().await;
    five.receiver.answer(&[401]);
    let vars = five.config(&[
        ("DINGTALK_SECRET", WRONG_DINGTALK_SECRET.into()),
        ("FEISHU_SECRET", "feishu-wrong-secret-never-printed".into()),
        (
            "SLACK_WEBHOOK_URL",
            format!(
                "http://{}/services/wrong-slack-token-never-printed",
                five.slack.address
            ),
        ),
        (
            "TELEGRAM_BOT_TOKEN",
            "123456:wrong-token-never-printed".into(),
        ),
    ]);
    let (outcome, printed) = tick(&vars).await;
    let Outcome::Error(error) = outcome else {
        panic!("expected the invocation to fail: {outcome:?}");
    };
    let message = error["errorMessage"].as_str().unwrap_or_default();
    for code in ["310000", "19021", "403", "401"] {
        assert!(message.contains(code), "{code} in {message}");
    }
    assert_no_secret(&error.to_string());
    assert_no_secret(&printed);
    for secret in [
        "feishu-wrong-secret-never-printed",
        "wrong-slack-token-never-printed",
    ] {
        assert!(
            !printed.contains(secret) && !error.to_string().contains(secret),
            "{secret}"
        );
    }
}
