//! The alert lifecycle over whole days of ticks: confirm, escalate, recover, quiet hours, digests,
//! idempotency, failed deliveries, and two invocations of one tick racing on DynamoDB.

mod support;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use lookout::alerting::policy::Policy;
use lookout::alerting::render::{self, Language, Style};
use lookout::alerting::state::dynamodb::DynamoDbStore;
use lookout::alerting::state::memory::MemoryStore;
use lookout::alerting::state::{History as _, StateStore};
use lookout::alerting::{AlertNote, AlertState};
use lookout::config::Env;
use lookout::monitor::{Invocation, Monitor};
use lookout::notify::Notifier;
use lookout::retry::Backoff;
use support::moto::Moto;
use support::scripted::{Recorder, ScriptedCheck, Sent, invocation, tick_at};

/// A Shanghai wall-clock time on 2026-03-02 (or the 3rd with `next_day`), as UTC.
fn local(hour: u32, minute: u32, next_day: bool) -> DateTime<Utc> {
    Shanghai
        .with_ymd_and_hms(2026, 3, if next_day { 3 } else { 2 }, hour, minute, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn quick() -> Backoff {
    Backoff {
        base: Duration::from_millis(1),
        max: Duration::from_millis(2),
        max_attempts: 2,
    }
}

fn between(time: DateTime<Utc>, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
    from <= time && time < to
}

/// The day: `https://shop/` is down from 10:02 to 14:40; `https://blog/` fails once at 16:00 (a
/// flap under the threshold of 2) and again from 23:08 to 23:22, inside the night's quiet hours.
fn the_day(time: DateTime<Utc>) -> Vec<(String, bool)> {
    let shop_down = between(time, local(10, 2, false), local(14, 40, false));
    let blog_down = between(time, local(15, 58, false), local(16, 3, false))
        || between(time, local(23, 8, false), local(23, 22, false));
    vec![
        ("https://shop/".into(), shop_down),
        ("https://blog/".into(), blog_down),
    ]
}

fn policy() -> Policy {
    Policy::from_env(
        &Env::from_pairs([
            ("ALERT_FAILURE_THRESHOLD", "2"),
            ("SMS_AFTER_MINUTES", "60"),
            ("ALERT_QUIET_HOURS", "14:00-14:30,23:00-07:00"),
        ]),
        &lookout::notify::delays(),
    )
    .expect("the policy")
}

fn monitor(sent: &Sent, store: Box<dyn StateStore>) -> Monitor {
    let channels: Vec<Box<dyn Notifier>> = ["wecom", "email", "sms"]
        .into_iter()
        .map(|name| Box::new(Recorder::new(name, sent)) as Box<dyn Notifier>)
        .collect();
    Monitor::new(
        Box::new(ScriptedCheck(Box::new(the_day))),
        channels,
        store,
        policy(),
    )
    .with_backoff(quick())
}

/// One line per alert sent: "HH:MM channel target state [step] [note]", in Shanghai time.
fn lines(sent: &Sent) -> Vec<String> {
    let mut out = Vec::new();
    for (channel, digest) in sent.lock().unwrap().iter() {
        for alert in &digest.alerts {
            let mut line = format!(
                "{} {channel} {} {:?}",
                digest.time.with_timezone(&Shanghai).format("%H:%M"),
                alert.target,
                alert.state
            );
            if let Some(step) = alert.step {
                line.push_str(&format!(" notice {step}"));
            }
            if let Some(note) = alert.note {
                line.push_str(&format!(" {note:?}"));
            }
            out.push(line);
        }
    }
    out
}

/// Replays 24 hours of 5-minute ticks from 08:00 local.
async fn replay_day(sent: &Sent) {
    let monitor = monitor(sent, Box::new(MemoryStore::default()));
    let start = local(8, 0, false);
    for i in 0..288 {
        let time = start + chrono::Duration::minutes(5 * i);
        monitor.tick(tick_at(time), &invocation()).await;
    }
}

#[tokio::test]
async fn a_replayed_day_sends_exactly_the_expected_notices() {
    let sent: Sent = Arc::default();
    replay_day(&sent).await;
    let expected: Vec<String> = [
        // Confirmed at the second failing tick; the failure began at 10:05.
        "10:10 wecom https://shop/ Failing notice 1",
        "10:10 email https://shop/ Failing notice 1",
        // The 10-minute step, at the first tick at or after it.
        "10:15 wecom https://shop/ Failing notice 2",
        "10:15 email https://shop/ Failing notice 2",
        // The 60-minute step; SMS joins at 60 minutes with one notice, not a burst.
        "11:05 wecom https://shop/ Failing notice 3",
        "11:05 email https://shop/ Failing notice 3",
        "11:05 sms https://shop/ Failing notice 3",
        // The 240-minute step fell in the 14:00-14:30 quiet window: held, sent when it ended.
        "14:30 wecom https://shop/ Failing notice 4 QuietHours",
        "14:30 email https://shop/ Failing notice 4 QuietHours",
        "14:30 sms https://shop/ Failing notice 4 QuietHours",
        // Recovery, to every channel that was told.
        "14:40 wecom https://shop/ Recovered",
        "14:40 email https://shop/ Recovered",
        "14:40 sms https://shop/ Recovered",
        // The blog's night incident opened and closed in quiet hours: summarised at 07:00.
        "07:00 wecom https://blog/ Recovered OpenedAndClosedUnheard",
        "07:00 email https://blog/ Recovered OpenedAndClosedUnheard",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(lines(&sent), expected);

    // The recovery carries the downtime, from the first failing tick to the first passing one.
    let recorded = sent.lock().unwrap().clone();
    let (_, recovery) = recorded
        .iter()
        .find(|(c, d)| *c == "wecom" && d.alerts[0].state == AlertState::Recovered)
        .unwrap();
    assert_eq!(recovery.alerts[0].since, local(10, 5, false));
    assert_eq!(recovery.alerts[0].until, Some(local(14, 40, false)));
    let english = Style {
        language: Language::English,
        ..Style::default()
    };
    assert!(
        render::plain_text(recovery, &english).contains("down 4 h 35 min, from 10:05 to 14:40")
    );
    assert!(
        render::plain_text(recovery, &Style::default())
            .contains("故障持续 4 小时 35 分钟，10:05 至 14:40")
    );
    let (_, night) = recorded.iter().rev().find(|(c, _)| *c == "wecom").unwrap();
    assert_eq!(
        night.alerts[0].note,
        Some(AlertNote::OpenedAndClosedUnheard)
    );
    assert_eq!(night.alerts[0].since, local(23, 10, false));
    assert_eq!(night.alerts[0].until, Some(local(23, 25, false)));
}

#[tokio::test]
async fn replaying_the_same_day_reproduces_the_same_notices() {
    let (first, second): (Sent, Sent) = (Arc::default(), Arc::default());
    replay_day(&first).await;
    replay_day(&second).await;
    assert_eq!(*first.lock().unwrap(), *second.lock().unwrap());
}

#[tokio::test]
async fn ten_targets_failing_at_once_are_one_message_per_channel() {
    let sent: Sent = Arc::default();
    let check = ScriptedCheck(Box::new(|_| {
        (0..10)
            .map(|i| (format!("https://site-{i}/"), true))
            .collect()
    }));
    let channels: Vec<Box<dyn Notifier>> = vec![Box::new(Recorder::new("wecom", &sent))];
    let monitor = Monitor::new(
        Box::new(check),
        channels,
        Box::new(MemoryStore::default()),
        Policy::default(),
    );
    let report = monitor
        .tick(tick_at(local(9, 0, false)), &invocation())
        .await;
    let recorded = sent.lock().unwrap();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].1.alerts.len(), 10);
    assert_eq!(report.alerts.len(), 10);
    assert_eq!(report.alerts[0].channels, vec!["wecom"]);
    assert_eq!(report.summary.open_incidents, 10);
}

#[tokio::test]
async fn the_same_tick_delivered_twice_sends_once() {
    let sent: Sent = Arc::default();
    let monitor = monitor(&sent, Box::new(MemoryStore::default()));
    monitor
        .tick(tick_at(local(10, 5, false)), &invocation())
        .await;
    let first = monitor
        .tick(tick_at(local(10, 10, false)), &invocation())
        .await;
    let again = monitor
        .tick(tick_at(local(10, 10, false)), &invocation())
        .await;
    assert!(!first.duplicate && again.duplicate);
    assert_eq!(first.alerts.len(), 1);
    assert!(again.alerts.is_empty() && again.deliveries.is_empty());
    assert_eq!(sent.lock().unwrap().len(), 2, "wecom and email, once");
}

#[tokio::test]
async fn a_failed_delivery_is_retried_on_the_next_tick_and_the_report_says_so() {
    let sent: Sent = Arc::default();
    let down = Recorder::new("wecom", &sent);
    let switch = Arc::clone(&down.failing);
    *switch.lock().unwrap() = true;
    let check = ScriptedCheck(Box::new(|_| vec![("https://shop/".into(), true)]));
    let monitor = Monitor::new(
        Box::new(check),
        vec![Box::new(down)],
        Box::new(MemoryStore::default()),
        Policy::default(),
    )
    .with_backoff(quick());
    let failed = monitor
        .tick(tick_at(local(9, 0, false)), &invocation())
        .await;
    assert_eq!(
        failed.deliveries[0].error.as_deref(),
        Some("the channel is down")
    );
    assert!(sent.lock().unwrap().is_empty());
    *switch.lock().unwrap() = false;
    let retried = monitor
        .tick(tick_at(local(9, 1, false)), &invocation())
        .await;
    assert_eq!(retried.alerts.len(), 1);
    assert_eq!(retried.alerts[0].note, Some(AlertNote::DeliveryFailed));
    assert_eq!(retried.alerts[0].step, Some(1));
    let quiet = monitor
        .tick(tick_at(local(9, 2, false)), &invocation())
        .await;
    assert!(quiet.alerts.is_empty(), "delivered once, not again");
}

#[tokio::test]
async fn two_concurrent_invocations_of_one_tick_send_once_against_dynamodb() {
    let moto = Moto::start().await;
    let client = support::dynamodb::table(&moto, "lookout-state").await;
    let sent: Sent = Arc::default();
    let first = monitor(
        &sent,
        Box::new(DynamoDbStore::new(client.clone(), "lookout-state")),
    );
    let second = monitor(&sent, Box::new(DynamoDbStore::new(client, "lookout-state")));
    first
        .tick(tick_at(local(10, 5, false)), &invocation())
        .await;
    for minute in [10, 15] {
        // The same event delivered twice at once: two invocations, two request ids.
        let tick = tick_at(local(10, minute, false));
        let (one, two) = (invocation(), invocation());
        let (a, b) = tokio::join!(first.tick(tick.clone(), &one), second.tick(tick, &two));
        assert!(
            a.alerts.is_empty() || b.alerts.is_empty(),
            "one invocation claims the notices: {:?} / {:?}",
            a.alerts,
            b.alerts
        );
    }
    assert_eq!(
        lines(&sent),
        vec![
            "10:10 wecom https://shop/ Failing notice 1",
            "10:10 email https://shop/ Failing notice 1",
            "10:15 wecom https://shop/ Failing notice 2",
            "10:15 email https://shop/ Failing notice 2",
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>()
    );
}

#[test]
fn quiet_windows_are_read_in_the_configured_zone() {
    let p = policy();
    assert_eq!(
        p.quiet_hours[1].start,
        NaiveTime::from_hms_opt(23, 0, 0).unwrap()
    );
    assert!(p.is_quiet(local(6, 55, true)) && !p.is_quiet(local(7, 0, true)));
}

/// A monitor of `targets(time)` with one recording channel named `wecom`; the channel's failing and
/// stalling switches.
fn one_channel(
    sent: &Sent,
    store: Box<dyn StateStore>,
    targets: fn(DateTime<Utc>) -> Vec<(String, bool)>,
) -> (
    Monitor,
    Arc<std::sync::Mutex<bool>>,
    Arc<std::sync::Mutex<bool>>,
) {
    let channel = Recorder::new("wecom", sent);
    let (failing, stalling) = (Arc::clone(&channel.failing), Arc::clone(&channel.stalling));
    let monitor = Monitor::new(
        Box::new(ScriptedCheck(Box::new(targets))),
        vec![Box::new(channel)],
        store,
        Policy::default(),
    )
    .with_backoff(quick());
    (monitor, failing, stalling)
}

#[tokio::test]
async fn a_retry_of_a_tick_whose_channels_all_failed_delivers_what_it_owes_once() {
    let sent: Sent = Arc::default();
    let (monitor, failing, _) = one_channel(&sent, Box::new(MemoryStore::default()), |_| {
        vec![("https://shop/".into(), true)]
    });
    let tick = tick_at(local(9, 0, false));
    let lambda = || Invocation::new("request-async-1", Duration::from_secs(10));
    *failing.lock().unwrap() = true;
    let first = monitor.tick(tick.clone(), &lambda()).await;
    assert!(
        first.undelivered().is_some(),
        "the invocation fails, so Lambda retries it"
    );
    // Lambda's first retry: the channel is still down.
    let second = monitor.tick(tick.clone(), &lambda()).await;
    assert!(!second.duplicate, "an unfinished tick is not a duplicate");
    assert!(second.undelivered().is_some());
    // The second retry: the channel is back. The notice goes out, once.
    *failing.lock().unwrap() = false;
    let third = monitor.tick(tick.clone(), &lambda()).await;
    assert!(!third.duplicate);
    assert_eq!(third.alerts.len(), 1);
    assert_eq!(third.alerts[0].step, Some(1));
    assert_eq!(third.alerts[0].note, Some(AlertNote::DeliveryFailed));
    assert_eq!(sent.lock().unwrap().len(), 1);
    // Now the tick is finished: a redelivered event sends nothing, and so does the next tick.
    assert!(monitor.tick(tick, &lambda()).await.duplicate);
    let next = monitor
        .tick(tick_at(local(9, 1, false)), &invocation())
        .await;
    assert!(next.alerts.is_empty());
    assert_eq!(sent.lock().unwrap().len(), 1, "never twice");
}

#[tokio::test]
async fn a_notice_claimed_by_an_invocation_that_died_is_owed_not_lost() {
    let sent: Sent = Arc::default();
    let (monitor, _, stalling) = one_channel(&sent, Box::new(MemoryStore::default()), |_| {
        vec![("https://shop/".into(), true)]
    });
    *stalling.lock().unwrap() = true;
    // The invocation claims the first notice, starts sending it, and is killed.
    let doomed = Invocation::new("request-killed", Duration::from_millis(600));
    let killed = tokio::time::timeout(
        Duration::from_millis(200),
        monitor.tick(tick_at(local(9, 0, false)), &doomed),
    )
    .await;
    assert!(killed.is_err(), "the tick was cut off mid-delivery");
    *stalling.lock().unwrap() = false;
    // While its lease runs, another invocation leaves the notice to it.
    let meanwhile = monitor
        .tick(tick_at(local(9, 1, false)), &invocation())
        .await;
    assert!(meanwhile.alerts.is_empty(), "{:?}", meanwhile.alerts);
    // Once the lease is over it is owed, and goes out marked as possibly repeated.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let later = monitor
        .tick(tick_at(local(9, 2, false)), &invocation())
        .await;
    assert_eq!(later.alerts.len(), 1, "{:?}", later.alerts);
    assert_eq!(later.alerts[0].step, Some(1));
    assert_eq!(later.alerts[0].note, Some(AlertNote::Unconfirmed));
    assert_eq!(sent.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn lambdas_retry_of_a_killed_invocation_takes_over_its_claims_at_once() {
    let sent: Sent = Arc::default();
    let (monitor, _, stalling) = one_channel(&sent, Box::new(MemoryStore::default()), |_| {
        vec![("https://shop/".into(), true)]
    });
    *stalling.lock().unwrap() = true;
    let tick = tick_at(local(9, 0, false));
    let attempt = || Invocation::new("request-retried", Duration::from_secs(30));
    let killed = tokio::time::timeout(
        Duration::from_millis(200),
        monitor.tick(tick.clone(), &attempt()),
    )
    .await;
    assert!(killed.is_err());
    *stalling.lock().unwrap() = false;
    // The same request id: the earlier attempt is known to be gone, its lease notwithstanding.
    let retry = monitor.tick(tick, &attempt()).await;
    assert_eq!(retry.alerts.len(), 1);
    assert_eq!(retry.alerts[0].note, Some(AlertNote::Unconfirmed));
    assert_eq!(sent.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_target_removed_from_the_configuration_gets_one_last_notice() {
    let sent: Sent = Arc::default();
    // Both sites fail until 09:10; from then on only the shop is configured.
    let (monitor, _, _) = one_channel(&sent, Box::new(MemoryStore::default()), |time| {
        let mut targets = vec![("https://shop/".to_owned(), true)];
        if time < local(9, 10, false) {
            targets.push(("https://old-blog/".to_owned(), true));
        }
        targets
    });
    monitor
        .tick(tick_at(local(9, 0, false)), &invocation())
        .await;
    let removed = monitor
        .tick(tick_at(local(9, 10, false)), &invocation())
        .await;
    let retired: Vec<&lookout::alerting::Alert> = removed
        .alerts
        .iter()
        .filter(|a| a.state == AlertState::Retired)
        .collect();
    assert_eq!(retired.len(), 1, "{:?}", removed.alerts);
    assert_eq!(retired[0].target, "https://old-blog/");
    assert_eq!(retired[0].since, local(9, 0, false));
    assert!(
        !removed.incidents.iter().any(|i| i.key.contains("old-blog")),
        "closed"
    );
    let text = render::plain_text(&sent.lock().unwrap().last().unwrap().1, &Style::default());
    assert!(
        text.contains("停止监控") && text.contains("不再监控"),
        "{text}"
    );
    for minute in [11, 20, 70] {
        let time = local(9, 0, false) + chrono::Duration::minutes(minute);
        let later = monitor.tick(tick_at(time), &invocation()).await;
        assert!(
            later.alerts.iter().all(|a| a.target != "https://old-blog/"),
            "once only: {:?}",
            later.alerts
        );
    }
}

#[tokio::test]
async fn each_tick_of_a_replayed_day_is_one_record_of_its_history() {
    use lookout::history::State;
    let sent: Sent = Arc::default();
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::default());
    let channels: Vec<Box<dyn Notifier>> = vec![Box::new(Recorder::new("wecom", &sent))];
    let monitor = Monitor::sharing(
        Box::new(ScriptedCheck(Box::new(the_day))),
        channels,
        Arc::clone(&store),
        policy(),
    )
    .with_backoff(quick());
    let start = local(8, 0, false);
    for i in 0..288 {
        let time = start + chrono::Duration::minutes(5 * i);
        monitor.tick(tick_at(time), &invocation()).await;
    }
    // 08:00 in Shanghai is midnight UTC: the whole day is one UTC day.
    let records = store.day("site-status", start.date_naive()).await.unwrap();
    assert_eq!(records.len(), 288, "one record per tick");
    assert!(records.iter().all(|r| r.entries.len() == 2));
    let down = |target: &str| {
        records
            .iter()
            .flat_map(|r| &r.entries)
            .filter(|e| e.key.ends_with(target) && e.state == State::Down)
            .count()
    };
    // 10:05 to 14:35, every five minutes; 16:00; 23:10 to 23:20.
    assert_eq!(down("https://shop/"), 55);
    assert_eq!(down("https://blog/"), 4);

    // The next tick rolls the day up, once, even when it comes days later (a function stopped for
    // two days catches up on the days it missed).
    let day = start.date_naive();
    assert!(!store.rolled_up("site-status", day).await.unwrap());
    monitor
        .tick(tick_at(start + chrono::Duration::days(3)), &invocation())
        .await;
    assert!(store.rolled_up("site-status", day).await.unwrap());
    for after in 1..3 {
        let empty = day + chrono::Duration::days(after);
        assert!(store.rolled_up("site-status", empty).await.unwrap());
    }
    let keys: Vec<String> = records[0].entries.iter().map(|e| e.key.clone()).collect();
    let rollups = store.rollups(&keys, day, day).await.unwrap();
    let shop = rollups
        .iter()
        .find(|r| r.key.ends_with("https://shop/"))
        .unwrap();
    assert_eq!((shop.checks, shop.up, shop.down), (288, 233, 55));
    assert_eq!(
        shop.downtime_minutes, 275,
        "55 down checks, five minutes each"
    );
    let blog = rollups
        .iter()
        .find(|r| r.key.ends_with("https://blog/"))
        .unwrap();
    assert_eq!((blog.down, blog.downtime_minutes), (4, 20));
}

/// A memory store whose day of history never comes: a day too large to read in the time left.
struct EndlessDay {
    inner: MemoryStore,
    reads: std::sync::atomic::AtomicUsize,
}

mod endless_day {
    use super::EndlessDay;
    use async_trait::async_trait;
    use chrono::{DateTime, NaiveDate, Utc};
    use lookout::alerting::state::{
        Budgets, Commit, History, Incidents, Ledger, StoreError, Versioned,
    };
    use lookout::history::{Closed, Record, Rollup};
    use lookout::pings::{Ping, PingRecord};

    #[async_trait]
    impl Incidents for EndlessDay {
        async fn tick_finished(&self, function: &str, tick_id: &str) -> Result<bool, StoreError> {
            self.inner.tick_finished(function, tick_id).await
        }
        async fn load(&self, function: &str) -> Result<Vec<Versioned>, StoreError> {
            self.inner.load(function).await
        }
        async fn get(&self, function: &str, key: &str) -> Result<Option<Versioned>, StoreError> {
            self.inner.get(function, key).await
        }
        async fn commit(&self, commit: &Commit<'_>) -> Result<Vec<Option<u64>>, StoreError> {
            self.inner.commit(commit).await
        }
    }

    #[async_trait]
    impl Budgets for EndlessDay {
        async fn spend(
            &self,
            budget: &str,
            limit: u32,
            expires: DateTime<Utc>,
        ) -> Result<bool, StoreError> {
            self.inner.spend(budget, limit, expires).await
        }
        async fn refund(&self, budget: &str) -> Result<(), StoreError> {
            self.inner.refund(budget).await
        }
    }

    #[async_trait]
    impl Ledger for EndlessDay {
        async fn record_ping(
            &self,
            token_hash: &str,
            monitor: &str,
            ping: &Ping,
            min_interval: chrono::Duration,
        ) -> Result<bool, StoreError> {
            self.inner
                .record_ping(token_hash, monitor, ping, min_interval)
                .await
        }
        async fn pings(
            &self,
            token_hashes: &[String],
        ) -> Result<std::collections::HashMap<String, PingRecord>, StoreError> {
            self.inner.pings(token_hashes).await
        }
        async fn record_event(
            &self,
            token_hash: &str,
            event: &lookout::events::ProcessEvent,
            expires: DateTime<Utc>,
        ) -> Result<bool, StoreError> {
            self.inner.record_event(token_hash, event, expires).await
        }
        async fn events(
            &self,
            token_hash: &str,
        ) -> Result<Vec<lookout::events::ProcessEvent>, StoreError> {
            self.inner.events(token_hash).await
        }
        async fn record_ingest_refusal(&self, at: DateTime<Utc>) -> Result<(), StoreError> {
            self.inner.record_ingest_refusal(at).await
        }
        async fn ingest_refusals(
            &self,
            since: DateTime<Utc>,
        ) -> Result<Vec<(DateTime<Utc>, u64)>, StoreError> {
            self.inner.ingest_refusals(since).await
        }
    }

    #[async_trait]
    impl History for EndlessDay {
        async fn append(&self, record: &Record) -> Result<(), StoreError> {
            self.inner.append(record).await
        }
        async fn day_chunks(
            &self,
            function: &str,
            day: NaiveDate,
            after: Option<DateTime<Utc>>,
        ) -> Result<Vec<String>, StoreError> {
            self.inner.day_chunks(function, day, after).await
        }
        async fn each_day_chunk(
            &self,
            _: &str,
            _: NaiveDate,
            _: &mut (dyn for<'c> FnMut(&'c str) -> Result<(), StoreError> + Send),
        ) -> Result<(), StoreError> {
            self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            std::future::pending().await
        }
        async fn put_rollups(
            &self,
            function: &str,
            day: NaiveDate,
            rollups: &[Rollup],
        ) -> Result<(), StoreError> {
            self.inner.put_rollups(function, day, rollups).await
        }
        async fn rolled_up(&self, function: &str, day: NaiveDate) -> Result<bool, StoreError> {
            self.inner.rolled_up(function, day).await
        }
        async fn record_closed(&self, closed: &Closed) -> Result<(), StoreError> {
            self.inner.record_closed(closed).await
        }
        async fn closed(&self, function: &str, most: usize) -> Result<Vec<Closed>, StoreError> {
            self.inner.closed(function, most).await
        }
        async fn rollups(
            &self,
            keys: &[String],
            from: NaiveDate,
            to: NaiveDate,
        ) -> Result<Vec<Rollup>, StoreError> {
            self.inner.rollups(keys, from, to).await
        }
    }
}

#[tokio::test]
async fn a_roll_up_that_cannot_finish_gives_way_to_the_deadline_and_is_not_tried_again_that_day() {
    let store = Arc::new(EndlessDay {
        inner: MemoryStore::default(),
        reads: Default::default(),
    });
    let sent: Sent = Arc::default();
    let channels: Vec<Box<dyn Notifier>> = vec![Box::new(Recorder::new("wecom", &sent))];
    let monitor = Monitor::sharing(
        Box::new(ScriptedCheck(Box::new(the_day))),
        channels,
        Arc::clone(&store) as Arc<dyn StateStore>,
        policy(),
    )
    .with_backoff(quick());
    // 10:05 in Shanghai: the shop is down, and yesterday was never rolled up.
    let time = local(10, 5, false);
    for minute in [0, 5] {
        let left = Duration::from_secs(3);
        let started = std::time::Instant::now();
        let report = monitor
            .tick(
                tick_at(time + chrono::Duration::minutes(minute)),
                &Invocation::new(format!("deadline-{minute}"), left),
            )
            .await;
        assert!(started.elapsed() < left, "the tick answered in time");
        assert!(!report.results.is_empty(), "the tick itself was whole");
        let yesterday = time.date_naive().pred_opt().unwrap();
        assert!(
            !store
                .inner
                .rolled_up("site-status", yesterday)
                .await
                .unwrap()
        );
    }
    assert_eq!(
        store.reads.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the day is not read again on every tick"
    );
}
