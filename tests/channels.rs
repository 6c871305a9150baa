//! The notification channels against local fakes: WeCom, Tencent Cloud SMS, and SES in moto_server.

mod support;

use std::time::Duration;

use chrono::{TimeZone, Utc};
use lookout::alerting::render::{Language, Style};
use lookout::alerting::{Alert, AlertState, Digest};
use lookout::config::Env;
use lookout::notify::email::{EmailNotifier, EmailSettings};
use lookout::notify::sms::{SmsNotifier, SmsSettings};
use lookout::notify::wecom::{WeComNotifier, WeComSettings};
use lookout::notify::{Channel, Delivery, DeliveryOutcome, Notifier, fan_out};
use lookout::retry::Backoff;
use serde_json::Value;
use support::moto::Moto;
use support::tencent::{self, FakeTencent};
use support::wecom::FakeWeCom;
use tokio::time::Instant;

const WECOM_KEY: &str = "wecom-robot-key-0123456789-secret";

fn digest() -> Digest {
    let time = Utc.with_ymd_and_hms(2026, 11, 23, 2, 10, 0).unwrap();
    let alert = |target: &str, kind: &str, message: &str| Alert {
        key: format!("site-status:{target}"),
        function: "site-status",
        target: target.into(),
        state: AlertState::Failing,
        kind: Some(kind.into()),
        message: message.into(),
        since: time,
        until: None,
        step: Some(1),
        note: None,
        channels: vec![],
        answer: None,
        links: None,
    };
    Digest {
        function: "site-status",
        time,
        alerts: vec![
            alert(
                "https://shop.example.com/",
                "status",
                "answered 503 Service Unavailable, expected 200-299",
            ),
            alert(
                "https://api.example.com/health",
                "timeout",
                "no complete answer within 10000 ms",
            ),
        ],
    }
}

fn quick() -> Backoff {
    Backoff {
        base: Duration::from_millis(50),
        max: Duration::from_millis(200),
        max_attempts: 5,
    }
}

async fn deliver(notifiers: Vec<Box<dyn Notifier>>) -> Vec<Delivery> {
    let digest = digest();
    let channels: Vec<Channel> = notifiers.into_iter().map(Channel::from).collect();
    fan_out(
        &channels,
        |_| Some(&digest),
        quick(),
        Instant::now() + Duration::from_secs(30),
    )
    .await
}

fn wecom(url: &str, mentions: &str) -> Box<dyn Notifier> {
    let env = Env::from_pairs([
        ("WECOM_WEBHOOK_URL", url),
        ("WECOM_MENTION_MOBILES", mentions),
    ]);
    let settings = lookout::config::read::settings_if_set::<WeComSettings>(&env)
        .unwrap()
        .expect("configured");
    Box::new(WeComNotifier::new(settings, Style::default()).unwrap())
}

fn sms_env(fake: &FakeTencent, secret_key: &str, numbers: &str) -> Env {
    Env::from_pairs([
        ("SMS_PHONE_NUMBERS", numbers),
        ("SMS_SDK_APP_ID", "1400000001"),
        ("SMS_SIGN_NAME", "lookout"),
        ("SMS_TEMPLATE_ID", "2000001"),
        ("TENCENTCLOUD_SECRET_ID", tencent::SECRET_ID),
        ("TENCENTCLOUD_SECRET_KEY", secret_key),
        ("TENCENTCLOUD_SMS_ENDPOINT", &fake.url()),
    ])
}

fn sms(fake: &FakeTencent, secret_key: &str, numbers: &str) -> Box<dyn Notifier> {
    let settings =
        lookout::config::read::settings_if_set::<SmsSettings>(&sms_env(fake, secret_key, numbers))
            .unwrap()
            .expect("configured");
    Box::new(SmsNotifier::new(settings, Style::default()).unwrap())
}

fn email(moto: &Moto, from: &str) -> Box<dyn Notifier> {
    email_to(moto, from, "oncall@example.com,lead@example.com")
}

fn email_to(moto: &Moto, from: &str, to: &str) -> Box<dyn Notifier> {
    let env = Env::from_pairs([("EMAIL_FROM", from), ("EMAIL_TO", to)]);
    let settings = lookout::config::read::settings_if_set::<EmailSettings>(&env)
        .expect("valid settings")
        .expect("configured");
    let english = Style {
        language: Language::English,
        ..Style::default()
    };
    Box::new(EmailNotifier::new(settings, english, moto.sesv2()))
}

fn delivered(attempts: u32, channel: &'static str) -> Delivery {
    Delivery {
        channel: channel.to_owned(),
        outcome: DeliveryOutcome::Delivered,
        attempts,
        error: None,
        note: None,
    }
}

#[tokio::test]
async fn wecom_delivers_one_markdown_digest() {
    let robot = FakeWeCom::start(WECOM_KEY).await;
    let deliveries = deliver(vec![wecom(&robot.url(), "")]).await;
    assert_eq!(deliveries, vec![delivered(1, "wecom")]);
    let accepted = robot.accepted();
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0]["msgtype"], "markdown");
    let content = accepted[0]["markdown"]["content"].as_str().unwrap();
    assert!(
        content.contains("站点状态") && content.contains("2 项故障"),
        "{content}"
    );
    assert!(
        content.contains("https://shop.example.com/")
            && content.contains("https://api.example.com/health")
    );
}

#[tokio::test]
async fn wecom_mentions_people_by_mobile_in_a_text_message() {
    let robot = FakeWeCom::start(WECOM_KEY).await;
    let deliveries = deliver(vec![wecom(&robot.url(), "13800001111,@all")]).await;
    assert_eq!(deliveries, vec![delivered(1, "wecom")]);
    let message = &robot.accepted()[0];
    assert_eq!(message["msgtype"], "text");
    assert_eq!(
        message["text"]["mentioned_mobile_list"],
        serde_json::json!(["13800001111", "@all"])
    );
}

#[tokio::test]
async fn wecom_45009_twice_then_success() {
    let robot = FakeWeCom::start(WECOM_KEY).await;
    robot.answer_next(45009, 2);
    let deliveries = deliver(vec![wecom(&robot.url(), "")]).await;
    assert_eq!(deliveries, vec![delivered(3, "wecom")]);
    assert_eq!(robot.requests(), 3);
    assert_eq!(robot.accepted().len(), 1);
}

#[tokio::test]
async fn the_fake_robot_enforces_twenty_messages_a_minute() {
    let robot = FakeWeCom::start(WECOM_KEY).await;
    let channel = wecom(&robot.url(), "");
    for _ in 0..20 {
        channel.deliver(&digest()).await.expect("within the limit");
    }
    let error = channel.deliver(&digest()).await.unwrap_err();
    assert!(
        error.retryable && error.reason.starts_with("45009"),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_invalid_webhook_key_fails_at_once_without_showing_the_key() {
    let robot = FakeWeCom::start(WECOM_KEY).await;
    let deliveries = deliver(vec![wecom(
        &robot.url_with_key("wrong-key-also-secret"),
        "",
    )])
    .await;
    assert_eq!(deliveries[0].outcome, DeliveryOutcome::Failed);
    assert_eq!(deliveries[0].attempts, 1);
    let reason = deliveries[0].error.as_deref().unwrap();
    assert!(
        reason.contains("93000") && reason.contains("WECOM_WEBHOOK_URL"),
        "{reason}"
    );
    assert!(!reason.contains("wrong-key-also-secret"));
}

#[tokio::test]
async fn sms_is_sent_signed_with_short_template_parameters() {
    let api = FakeTencent::start().await;
    let deliveries = deliver(vec![sms(
        &api,
        tencent::SECRET_KEY,
        "13800000000,+8613900000000",
    )])
    .await;
    assert_eq!(deliveries, vec![delivered(1, "sms")]);
    let received = api.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].action, "SendSms");
    assert_eq!(received[0].region, "ap-guangzhou");
    assert_eq!(
        received[0].body["PhoneNumberSet"],
        serde_json::json!(["+8613800000000", "+8613900000000"])
    );
    let params = received[0].body["TemplateParamSet"].as_array().unwrap();
    assert_eq!(
        params,
        &vec![Value::from("站点状态"), Value::from("2项故障")]
    );
}

#[tokio::test]
async fn sms_with_a_wrong_secret_key_is_refused_and_not_retried() {
    let api = FakeTencent::start().await;
    let deliveries = deliver(vec![sms(&api, "not-the-right-key", "13800000000")]).await;
    assert_eq!(deliveries[0].outcome, DeliveryOutcome::Failed);
    assert_eq!(deliveries[0].attempts, 1);
    let reason = deliveries[0].error.as_deref().unwrap();
    assert!(
        reason.contains("AuthFailure.SignatureFailure")
            && reason.contains("TENCENTCLOUD_SECRET_KEY"),
        "{reason}"
    );
    assert!(!reason.contains("not-the-right-key"));
    assert!(api.received().is_empty());
}

#[tokio::test]
async fn sms_rate_limits_are_retried() {
    let api = FakeTencent::start().await;
    api.answer_next("RequestLimitExceeded", 2);
    let deliveries = deliver(vec![sms(&api, tencent::SECRET_KEY, "13800000000")]).await;
    assert_eq!(deliveries, vec![delivered(3, "sms")]);
}

#[tokio::test]
async fn a_number_rejected_in_the_status_set_is_noted_and_the_others_are_not_resent() {
    let api = FakeTencent::start().await;
    api.blacklist("+8613900001111");
    let deliveries = deliver(vec![sms(
        &api,
        tencent::SECRET_KEY,
        "13800000000,13900001111",
    )])
    .await;
    assert_eq!(deliveries[0].outcome, DeliveryOutcome::Delivered);
    assert_eq!(deliveries[0].attempts, 1);
    assert_eq!(
        deliveries[0].note.as_deref(),
        Some(
            "SMS not delivered to 1 of 2 numbers: +86139****1111 FailedOperation.PhoneNumberInBlacklist"
        )
    );
    assert_eq!(api.delivered_to("+8613800000000"), 1);
}

#[tokio::test]
async fn mainland_and_international_numbers_are_sent_in_separate_requests() {
    let api = FakeTencent::start().await;
    let deliveries = deliver(vec![sms(
        &api,
        tencent::SECRET_KEY,
        "13800000000,+14155550100,+85291234567",
    )])
    .await;
    assert_eq!(deliveries, vec![delivered(1, "sms")]);
    let sets: Vec<Value> = api
        .received()
        .iter()
        .map(|r| r.body["PhoneNumberSet"].clone())
        .collect();
    assert_eq!(sets.len(), 2, "{sets:?}");
    assert!(sets.contains(&serde_json::json!(["+8613800000000"])));
    assert!(sets.contains(&serde_json::json!(["+14155550100", "+85291234567"])));
    for number in ["+8613800000000", "+14155550100", "+85291234567"] {
        assert_eq!(api.delivered_to(number), 1, "{number}");
    }
}

/// Delivers one digest through one notifier, retrying as `fan_out` does.
async fn deliver_digest(notifier: &dyn Notifier, digest: &Digest) -> Delivery {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let (result, attempts) =
        lookout::retry::retry(quick(), deadline, |_| notifier.deliver(digest)).await;
    let (outcome, error, note) = match result {
        Ok(receipt) => (DeliveryOutcome::Delivered, None, receipt.note),
        Err(error) if error.owed => (DeliveryOutcome::Failed, Some(error.reason), None),
        Err(error) => (DeliveryOutcome::Dropped, Some(error.reason), None),
    };
    Delivery {
        channel: notifier.channel().to_owned(),
        outcome,
        attempts,
        error,
        note,
    }
}

#[tokio::test]
async fn a_numbers_daily_budget_holds_back_what_a_flapping_target_would_spend() {
    let api = FakeTencent::start().await;
    let env = sms_env(&api, tencent::SECRET_KEY, "13800000000");
    let env = env.overlaid(vec![("SMS_DAILY_LIMIT".into(), "2".into())]);
    let settings = lookout::config::read::settings_if_set::<SmsSettings>(&env)
        .unwrap()
        .unwrap();
    let budget: std::sync::Arc<dyn lookout::alerting::state::StateStore> =
        std::sync::Arc::new(lookout::alerting::state::memory::MemoryStore::default());
    let notifier = SmsNotifier::new(settings, Style::default())
        .unwrap()
        .with_budget(budget);
    let outcomes: Vec<Delivery> = futures::future::join_all((1..=3).map(|n| {
        let digest = support::scripted::digest_with(n);
        let notifier = &notifier;
        async move { deliver_digest(notifier, &digest).await }
    }))
    .await;
    let delivered = outcomes
        .iter()
        .filter(|d| d.outcome == DeliveryOutcome::Delivered)
        .count();
    assert_eq!(delivered, 2, "{outcomes:?}");
    let held = outcomes
        .iter()
        .find(|d| d.outcome == DeliveryOutcome::Dropped)
        .expect("the third is held back, not owed");
    assert!(
        held.error.as_deref().unwrap().contains("held back")
            && held.error.as_deref().unwrap().contains("SMS_DAILY_LIMIT"),
        "{held:?}"
    );
    assert_eq!(api.delivered_to("+8613800000000"), 2);
}

#[tokio::test]
async fn tencents_own_daily_limit_is_dropped_not_owed() {
    let api = FakeTencent::start().await;
    let env = sms_env(&api, tencent::SECRET_KEY, "13800000000")
        .overlaid(vec![("SMS_DAILY_LIMIT".into(), "50".into())]);
    let notifier = SmsNotifier::new(
        lookout::config::read::settings_if_set::<SmsSettings>(&env)
            .unwrap()
            .unwrap(),
        Style::default(),
    )
    .unwrap();
    let mut last = None;
    for n in 1..=(tencent::DAILY_LIMIT as usize + 1) {
        last = Some(deliver_digest(&notifier, &support::scripted::digest_with(n)).await);
    }
    let last = last.unwrap();
    assert_eq!(last.outcome, DeliveryOutcome::Dropped, "{last:?}");
    assert!(
        last.error
            .unwrap()
            .contains("LimitExceeded.PhoneNumberDailyLimit")
    );
    assert_eq!(api.delivered_to("+8613800000000"), 10);
}

#[tokio::test]
async fn an_sms_that_may_have_gone_out_is_not_resent_in_the_same_tick() {
    let api = FakeTencent::start().await;
    api.after_sending(tencent::AfterSending::InternalTimeout, 1);
    let deliveries = deliver(vec![sms(&api, tencent::SECRET_KEY, "13800000000")]).await;
    assert_eq!(
        deliveries[0].outcome,
        DeliveryOutcome::Failed,
        "owed to the next tick"
    );
    assert_eq!(deliveries[0].attempts, 1, "not retried now");
    assert!(
        deliveries[0]
            .error
            .as_deref()
            .unwrap()
            .contains("may have been sent"),
        "{deliveries:?}"
    );
    assert_eq!(api.delivered_to("+8613800000000"), 1);
}

#[tokio::test]
async fn a_number_whose_own_status_timed_out_is_not_resent_in_the_tick() {
    let api = FakeTencent::start().await;
    api.time_out_after_sending_to("+8613900001111");
    let notifier = sms(&api, tencent::SECRET_KEY, "13800000000,13900001111");
    let digest = support::scripted::digest_with(1);
    let first = deliver_digest(notifier.as_ref(), &digest).await;
    assert_eq!(first.outcome, DeliveryOutcome::Delivered);
    assert!(
        first
            .note
            .as_deref()
            .unwrap()
            .contains("+86139****1111 may have been sent"),
        "{first:?}"
    );
    // Delivered again within the tick (another channel's retry, say): nobody gets it twice.
    deliver_digest(notifier.as_ref(), &digest).await;
    assert_eq!(api.delivered_to("+8613900001111"), 1);
    assert_eq!(api.delivered_to("+8613800000000"), 1);
}

#[tokio::test]
async fn the_fake_refuses_a_request_mixing_regions_as_tencent_does() {
    let api = FakeTencent::start().await;
    let credentials = lookout::tencent::Credentials {
        secret_id: tencent::SECRET_ID.into(),
        secret_key: lookout::config::Secret::new(tencent::SECRET_KEY.into()),
        token: None,
    };
    let client = lookout::tencent::TencentClient::new(credentials, Duration::from_secs(5)).unwrap();
    let endpoint = lookout::tencent::Endpoint {
        url: api.url().parse().unwrap(),
        service: "sms",
        version: "2021-01-11",
        region: "ap-guangzhou".into(),
    };
    let body = serde_json::json!({"PhoneNumberSet": ["+8613800000000", "+14155550100"],
        "SmsSdkAppId": "1400000001", "SignName": "lookout", "TemplateId": "1",
        "TemplateParamSet": ["a", "b"]});
    let error = client.call(&endpoint, "SendSms", &body).await.unwrap_err();
    assert_eq!(
        error.code(),
        Some("UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber")
    );
}

#[tokio::test]
async fn email_is_sent_through_ses_with_subject_body_and_recipients() {
    let moto = Moto::start().await;
    moto.verify_sender("alerts@example.com").await;
    let deliveries = deliver(vec![email(&moto, "alerts@example.com")]).await;
    assert_eq!(deliveries, vec![delivered(1, "email")]);
    let data = moto.data().await;
    let sent = support::moto::sent_emails(&data);
    assert_eq!(sent.len(), 1, "{data}");
    let message = sent[0].to_string();
    assert!(
        message.contains("[lookout] FAILING · site status · https://shop.example.com/ and 1 more"),
        "{message}"
    );
    assert!(
        message.contains("oncall@example.com") && message.contains("lead@example.com"),
        "{message}"
    );
    assert!(
        message.contains("answered 503 Service Unavailable"),
        "{message}"
    );
}

#[tokio::test]
async fn more_than_fifty_recipients_go_in_several_messages_from_a_named_sender() {
    let moto = Moto::start().await;
    moto.verify_sender("alerts@example.com").await;
    let to: Vec<String> = (0..120).map(|i| format!("ops{i}@example.com")).collect();
    let deliveries = deliver(vec![email_to(
        &moto,
        "lookout 监控 <alerts@example.com>",
        &to.join(","),
    )])
    .await;
    assert_eq!(
        deliveries,
        vec![delivered(1, "email")],
        "moto refuses over 50 recipients"
    );
    let sent = moto.sent_emails().await;
    assert_eq!(sent.len(), 3, "50 + 50 + 20");
    let all = serde_json::to_string(&sent).unwrap();
    for address in &to {
        assert_eq!(
            all.matches(&format!("\"{address}\"")).count(),
            1,
            "{address} once"
        );
    }
    assert!(
        all.contains("=?UTF-8?B?"),
        "the Unicode name is MIME-encoded: {all}"
    );
}

#[tokio::test]
async fn an_unverified_sender_is_rejected_and_not_retried() {
    let moto = Moto::start().await;
    let deliveries = deliver(vec![email(&moto, "stranger@example.com")]).await;
    assert_eq!(deliveries[0].outcome, DeliveryOutcome::Failed);
    assert_eq!(deliveries[0].attempts, 1);
    let reason = deliveries[0].error.as_deref().unwrap();
    assert!(
        reason.contains("MessageRejected") && reason.contains("verify EMAIL_FROM"),
        "{reason}"
    );
}

#[tokio::test]
async fn one_dead_channel_does_not_stop_the_others() {
    let robot = FakeWeCom::start(WECOM_KEY).await;
    let api = FakeTencent::start().await;
    let moto = Moto::start().await;
    moto.verify_sender("alerts@example.com").await;
    let dead = format!(
        "http://{}/cgi-bin/webhook/send?key={WECOM_KEY}",
        support::site::refused_port().await
    );
    let deliveries = deliver(vec![
        wecom(&dead, ""),
        sms(&api, tencent::SECRET_KEY, "13800000000"),
        email(&moto, "alerts@example.com"),
    ])
    .await;
    assert_eq!(deliveries[0].channel, "wecom");
    assert_eq!(deliveries[0].outcome, DeliveryOutcome::Failed);
    assert_eq!(deliveries[0].attempts, 5, "a refused connection is retried");
    assert!(!deliveries[0].error.as_deref().unwrap().contains(WECOM_KEY));
    assert_eq!(deliveries[1], delivered(1, "sms"));
    assert_eq!(deliveries[2], delivered(1, "email"));
    assert_eq!(robot.requests(), 0);
}
