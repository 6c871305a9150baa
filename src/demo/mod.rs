//! What lookout does, shown before anything is configured: the first run (`make run` with no
//! `.env` and no `lookout.yaml`) and the replay of an outage (`make demo`).
//!
//! Both run the functions' own monitors, checks, lifecycle and channel layouts against stand-ins
//! served in this process on 127.0.0.1 ([`standins`]), described by a built-in `lookout.yaml`.
//! The channels are never called: each keeps what it was given, and the layouts show it.

pub mod standins;

use std::error::Error;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};

use crate::alerting::render::Style;
use crate::alerting::state::SharedStore;
use crate::alerting::state::memory::MemoryStore;
use crate::alerting::{Alert, AlertNote, AlertState, Digest};
use crate::checks::{self, CheckType};
use crate::config::Env;
use crate::monitor::{Invocation, Monitor};
use crate::notify::{self, Channel, DeliveryError, Notifier, Receipt};
use crate::pings::{self, Ping, Signal};
use crate::setup::file::{self, LookoutFile};
use crate::tick::Tick;
use standins::StandIns;

/// Prints a line on standard output; a closed output (`| head`) ends the show with an error, never
/// a panic.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*)?;
    }};
}

/// The first run's configuration.
const FIRST_RUN: &str = include_str!("first-run.yaml");
/// The replay's configuration.
const REPLAY: &str = include_str!("replay.yaml");
/// The heartbeat token of the first run's `nightly-backup` monitor.
const BACKUP_TOKEN: &str = "standin-nightly-backup-7c41";
/// How long ago `nightly-backup` last pinged: past its day and its hour of grace.
const BACKUP_SILENT_HOURS: i64 = 26;
/// web-1's token (its lookout-agent's: the heartbeat and the supervisord programs).
const WEB1_TOKEN: &str = "standin-web-1-agent-5d20";
/// How many times web-1's `api` program crashed in the last minutes.
const API_CRASHES: u32 = 4;
/// The replay: six hours in five-minute ticks, from 06:00 local.
const REPLAY_TICKS: i64 = 72;
const REPLAY_STEP_MINUTES: i64 = 5;
/// The stand-in shop is down from this many minutes into the replay until the second figure.
const OUTAGE_MINUTES: (i64, i64) = (55, 345);
/// How long a replay takes when someone watches it.
pub const REPLAY_WATCHED: Duration = Duration::from_secs(10);

/// What to say last: how to watch one's own targets.
const NEXT_STEPS: &str = "To watch your own targets: copy lookout.example.yaml to lookout.yaml (or .env.example to .env), put in your URLs and keys, and run `make run` again; `make demo` replays an outage; `make deploy` puts lookout in your AWS account.";

type DemoError = Box<dyn Error + Send + Sync>;

/// What the channels were given, in order: the channel's name and the digest.
#[derive(Clone, Default)]
struct Sent(Arc<Mutex<Vec<(String, Digest)>>>);

impl Sent {
    /// Everything given since the last call.
    fn take(&self) -> Vec<(String, Digest)> {
        self.0
            .lock()
            .map(|mut sent| std::mem::take(&mut *sent))
            .unwrap_or_default()
    }
}

/// A channel that keeps what it is given instead of sending it.
struct Kept {
    kind: &'static str,
    name: String,
    sent: Sent,
}

#[async_trait]
impl Notifier for Kept {
    fn channel(&self) -> &'static str {
        self.kind
    }

    async fn deliver(&self, digest: &Digest) -> Result<Receipt, DeliveryError> {
        let mut sent = self
            .sent
            .0
            .lock()
            .map_err(|_| DeliveryError::permanent("the demo's record of sent alerts broke"))?;
        sent.push((self.name.clone(), digest.clone()));
        Ok(Receipt::default())
    }
}

/// The variables the built-in configurations refer to: the stand-ins' addresses, and credentials
/// that only they accept.
fn standin_env(standins: &StandIns) -> Env {
    let language = std::env::var("ALERT_LANGUAGE")
        .ok()
        .filter(|l| l == "zh")
        .unwrap_or_else(|| "en".to_owned());
    Env::from_pairs([
        ("DEMO_SHOP_URL", format!("http://{}", standins.site)),
        ("DEMO_BACKUP_TOKEN", BACKUP_TOKEN.to_owned()),
        ("DEMO_WEB1_TOKEN", WEB1_TOKEN.to_owned()),
        ("DEMO_WECOM_KEY", "standin-key".to_owned()),
        ("DEMO_LANGUAGE", language),
        (
            "SPEEDTEST_BASE_URL",
            format!("http://{}", standins.speed_test),
        ),
        (
            "TENCENTCLOUD_CKAFKA_ENDPOINT",
            format!("http://{}/", standins.ckafka),
        ),
        ("TENCENTCLOUD_SECRET_ID", "AKIDstandin".to_owned()),
        ("TENCENTCLOUD_SECRET_KEY", "standin-secret-key".to_owned()),
    ])
}

/// A function's monitor as `file` describes it, its channels keeping what they are given.
fn monitor_of(
    kind: &'static CheckType,
    file: &LookoutFile,
    store: &SharedStore,
    sent: &Sent,
) -> Result<Monitor, DemoError> {
    let ledger: checks::SharedLedger = store.clone();
    let watches = crate::setup::watches_of(kind, file, &ledger)?;
    let channels: Vec<(String, &'static str)> = match &file.channels {
        Some(specs) => specs
            .iter()
            .map(|c| (c.name.clone(), c.kind.name))
            .collect(),
        None => file
            .default_channels
            .iter()
            .map(|name| (name.clone(), "console"))
            .collect(),
    };
    let channels = channels
        .into_iter()
        .map(|(name, kind)| Channel {
            notifier: Box::new(Kept {
                kind,
                name: name.clone(),
                sent: sent.clone(),
            }),
            name,
        })
        .collect();
    Ok(Monitor::watching(
        kind.function,
        watches,
        channels,
        Arc::clone(store),
        file.policy.clone(),
    ))
}

/// One tick of `monitor` at `time`.
async fn tick(monitor: &Monitor, time: DateTime<Utc>, id: &str) -> crate::report::Report {
    let tick = Tick::from_event(&Tick::synthetic_event(time), id, time);
    monitor
        .tick(
            tick,
            &Invocation::new(id, Duration::from_secs(60)).by_hand(),
        )
        .await
}

/// The first run: every function once against the stand-ins, its results as a table, then each
/// alert as every channel type lays it out, then how to watch one's own targets.
pub async fn first_run() -> Result<(), DemoError> {
    say!(
        "nothing configured: showing lookout against built-in stand-ins (see lookout.example.yaml to watch your own targets)"
    );
    let standins = StandIns::start().await?;
    say!(
        "stand-ins in this process: shop http://{}, speed-test service http://{}, CKafka API http://{}",
        standins.site,
        standins.speed_test,
        standins.ckafka
    );
    let env = standin_env(&standins);
    let file = file::load("first-run.yaml (built in)", FIRST_RUN, &env)?;
    let style = Style::from_env(&file.defaults)?;
    let now = Utc::now();
    let store: SharedStore = Arc::new(MemoryStore::default());
    // nightly-backup's last ping, a day and two hours ago: it has been silent since.
    store
        .record_ping(
            &pings::token_hash(BACKUP_TOKEN),
            "nightly-backup",
            &Ping {
                signal: Signal::Success,
                exit_status: Some(0),
                at: now - chrono::Duration::hours(BACKUP_SILENT_HOURS),
                output: None,
                resources: None,
                rid: None,
                ms: None,
            },
            chrono::Duration::seconds(10),
        )
        .await?;
    web1_agent(&store, now).await?;
    let sent = Sent::default();
    let mut digests: Vec<Digest> = Vec::new();
    // Each function once, with every type it runs.
    let functions = checks::CHECK_TYPES
        .iter()
        .filter(|kind| checks::check_type_of(kind.function).is_some_and(|k| k.name == kind.name));
    for kind in functions {
        let types: Vec<&str> = checks::check_types_of(kind.function)
            .iter()
            .map(|t| t.name)
            .collect();
        say!(
            "\n== {} (monitors of type {})",
            kind.function,
            types.join(", ")
        );
        let shown = file
            .monitors
            .iter()
            .flatten()
            .any(|m| types.contains(&m.kind.name));
        if !shown {
            // A host read over SSH needs a real server: nothing here stands in for one.
            say!(
                "(no stand-in for it here: see docs/checks.md#{})",
                kind.function
            );
            continue;
        }
        let monitor = monitor_of(kind, &file, &store, &sent)?;
        let report = tick(&monitor, now, &format!("first-run-{}", kind.function)).await;
        if let Some(summary) = monitor.local_summary(&report) {
            say!("{}", summary.trim_end());
        }
        // Every channel hears of everything here: one digest per function is what a channel gets.
        if let Some((_, digest)) = sent.take().into_iter().next() {
            digests.push(digest);
        }
    }
    say!("\n== The alerts, as each channel type would send them");
    for channel in notify::CHANNEL_TYPES {
        for digest in &digests {
            say!("\n-- {}: the {} alert --", channel.name, digest.function);
            say!("{}", (channel.preview)(digest, &style).trim_end());
        }
    }
    status_page(&standins, &file, &env, now).await?;
    say!("\n{NEXT_STEPS}");
    Ok(())
}

/// Where the first run writes the status page.
const STATUS_PAGE: &str = "target/lookout-status.html";

/// The status page of the stand-ins' public monitors, after a day of their history replayed in
/// five-minute ticks (the shop down from 10:00 to 10:40 and at 16:20, local time), written to
/// [`STATUS_PAGE`].
async fn status_page(
    standins: &StandIns,
    file: &LookoutFile,
    env: &Env,
    now: DateTime<Utc>,
) -> Result<(), DemoError> {
    let store: SharedStore = Arc::new(MemoryStore::default());
    let monitor = monitor_of(&checks::site::TYPE, file, &store, &Sent::default())?;
    let style = Style::from_env(&file.defaults)?;
    let steps = 24 * 60 / REPLAY_STEP_MINUTES;
    for step in 0..steps {
        let time = now - chrono::Duration::minutes((steps - step) * REPLAY_STEP_MINUTES);
        let local = time.with_timezone(&style.timezone).time();
        let minute = i64::from(chrono::Timelike::hour(&local)) * 60
            + i64::from(chrono::Timelike::minute(&local));
        let down = (600..640).contains(&minute) || (980..985).contains(&minute);
        standins
            .shop_down
            .store(down, std::sync::atomic::Ordering::SeqCst);
        tick(&monitor, time, &format!("status-{step}")).await;
    }
    standins
        .shop_down
        .store(false, std::sync::atomic::Ordering::SeqCst);
    tick(&monitor, now, "status-now").await;
    let site = crate::status::StatusSite::of(Some(file), env, store)?;
    let request = crate::status::Request {
        method: "GET".into(),
        path: "/".into(),
        ..crate::status::Request::default()
    };
    let answer = site.answer(&request, now).await;
    if let Some(folder) = std::path::Path::new(STATUS_PAGE).parent() {
        std::fs::create_dir_all(folder)?;
    }
    std::fs::write(STATUS_PAGE, &answer.body)?;
    say!(
        "\n== The status page\n{STATUS_PAGE}: the stand-ins' public monitors after a day of history replayed; open it in a browser (docs/status-page.md)"
    );
    Ok(())
}

/// What web-1's lookout-agent would have sent: a resource report (the root disk nearly full) with
/// the last ping, and supervisord's events of `api` crashing and restarting.
async fn web1_agent(store: &SharedStore, now: DateTime<Utc>) -> Result<(), DemoError> {
    let hash = pings::token_hash(WEB1_TOKEN);
    let resources = pings::Resources {
        host: "web-1".into(),
        cpu: 23.4,
        memory: 61.0,
        disks: [("/".to_owned(), 97.1)].into(),
        processes: [("nginx".to_owned(), true)].into(),
    };
    let ping = Ping {
        signal: Signal::Success,
        exit_status: None,
        at: now - chrono::Duration::seconds(20),
        output: None,
        resources: Some(resources),
        rid: None,
        ms: None,
    };
    store
        .record_ping(&hash, "web-1", &ping, chrono::Duration::seconds(10))
        .await?;
    let started = now - chrono::Duration::minutes(i64::from(API_CRASHES) * 2);
    for crash in 0..API_CRASHES {
        let at = started + chrono::Duration::minutes(i64::from(crash) * 2);
        for (offset, state) in [(0, "EXITED"), (3, "RUNNING")] {
            let serial = u64::from(crash) * 2 + offset / 3;
            let event = crate::events::ProcessEvent {
                id: format!("web-1/standin/{serial}"),
                host: "web-1".into(),
                process: "api".into(),
                group: "api".into(),
                from_state: if state == "EXITED" {
                    "RUNNING"
                } else {
                    "STARTING"
                }
                .into(),
                state: state.into(),
                expected: (state == "EXITED").then_some(false),
                pid: Some(7100 + serial as u32),
                serial,
                at: at + chrono::Duration::seconds(offset as i64),
                dropped: 0,
            };
            store
                .record_event(&hash, &event, now + chrono::Duration::hours(1))
                .await?;
        }
    }
    Ok(())
}

/// How the timeline names a channel type.
fn label(kind: &str) -> &str {
    match kind {
        "wecom" => "WeCom",
        "sms" => "SMS",
        "dingtalk" => "DingTalk",
        "feishu" => "Feishu",
        "slack" => "Slack",
        "telegram" => "Telegram",
        other => other,
    }
}

/// A monitor's name, from its incident key (`site:shop` -> `shop`).
fn monitor_name(key: &str) -> &str {
    key.split_once(':').map_or(key, |(_, name)| name)
}

/// What one alert says, in a line of the timeline.
fn said(alert: &Alert, time: DateTime<Utc>, style: &Style) -> String {
    // The timeline's own words are English: so are its durations, whatever the messages' language.
    let style = &Style {
        language: crate::alerting::render::Language::English,
        ..*style
    };
    let name = monitor_name(&alert.key);
    let minutes = |from: DateTime<Utc>, to: DateTime<Utc>| (to - from).num_minutes();
    let mut line = match alert.state {
        AlertState::Recovered => format!(
            "{name} recovered, down {}",
            style.duration(minutes(alert.since, alert.until.unwrap_or(time)))
        ),
        AlertState::Retired => format!("{name} is no longer monitored"),
        AlertState::Acknowledged => format!(
            "{name} acknowledged via {}",
            alert.answer.as_ref().map_or("-", |a| a.via.as_str())
        ),
        AlertState::Failing | AlertState::MonitorError | AlertState::Degraded => {
            let age = minutes(alert.since, time);
            let state = match alert.state {
                AlertState::Failing => "failing",
                AlertState::Degraded => "unreachable from lookout only",
                _ => "cannot be checked",
            };
            let mut line = if age == 0 {
                format!("{name} {state}")
            } else {
                format!("{name} {state} for {}", style.duration(age))
            };
            if let Some(step) = alert.step {
                line.push_str(&format!(" (notice {step})"));
            }
            line.push_str(&format!(": {}", alert.message));
            line
        }
    };
    if alert.note == Some(AlertNote::QuietHours) {
        line.push_str(" [held by quiet hours, sent as they ended]");
    }
    line
}

/// The replay: six hours of an outage of the stand-in shop in five-minute ticks, printed as a
/// timeline of what each channel was sent; `pace` between ticks.
pub async fn replay(pace: Duration) -> Result<(), DemoError> {
    let standins = StandIns::start().await?;
    let env = standin_env(&standins);
    let file = file::load("replay.yaml (built in)", REPLAY, &env)?;
    let style = Style::from_env(&file.defaults)?;
    let kinds: Vec<(String, &'static str)> = file
        .channels
        .iter()
        .flatten()
        .map(|c| (c.name.clone(), c.kind.name))
        .collect();
    let kind_of = |name: &str| {
        kinds
            .iter()
            .find(|(n, _)| n == name)
            .map_or("console", |(_, k)| k)
    };
    let store: SharedStore = Arc::new(MemoryStore::default());
    let sent = Sent::default();
    let monitor = monitor_of(&checks::site::TYPE, &file, &store, &sent)?;
    let start = style
        .timezone
        .with_ymd_and_hms(2026, 12, 1, 6, 0, 0)
        .single()
        .ok_or("06:00 is not a time of the demo's day")?
        .with_timezone(&Utc);
    let at = |minutes: i64| start + chrono::Duration::minutes(minutes);
    let clock = |time: DateTime<Utc>| time.with_timezone(&style.timezone).format("%H:%M");
    let sms_after = file.policy.channel_after_minutes.get("sms").copied();
    say!(
        "replaying six hours of the stand-in shop (http://{}/) in {REPLAY_STEP_MINUTES}-minute ticks, {} to {} {}: it fails at {} and comes back at {}",
        standins.site,
        clock(at(0)),
        clock(at(REPLAY_TICKS * REPLAY_STEP_MINUTES)),
        style.timezone,
        clock(at(OUTAGE_MINUTES.0)),
        clock(at(OUTAGE_MINUTES.1)),
    );
    say!(
        "channels: WeCom and email from the first notice, SMS once an incident is {} min old; notices at ages {:?} min; quiet hours {} (src/demo/replay.yaml)",
        sms_after.unwrap_or(0),
        file.policy.escalation_minutes,
        file.policy
            .quiet_hours
            .iter()
            .map(|w| format!("{}-{}", w.start.format("%H:%M"), w.end.format("%H:%M")))
            .collect::<Vec<_>>()
            .join(", "),
    );
    let mut counts: Vec<(String, usize)> = Vec::new();
    let mut was_failing = false;
    for index in 0..=REPLAY_TICKS {
        let minute = index * REPLAY_STEP_MINUTES;
        let time = at(minute);
        let down = (OUTAGE_MINUTES.0..OUTAGE_MINUTES.1).contains(&minute);
        standins
            .shop_down
            .store(down, std::sync::atomic::Ordering::SeqCst);
        let report = tick(&monitor, time, &format!("demo-{index}")).await;
        // Each alert once, with the channels it went to, in the channels' order.
        let mut told: Vec<(&Alert, Vec<&str>)> = Vec::new();
        let given = sent.take();
        for (channel, digest) in &given {
            match counts.iter_mut().find(|(c, _)| c == channel) {
                Some((_, n)) => *n += 1,
                None => counts.push((channel.clone(), 1)),
            }
            for alert in &digest.alerts {
                let same = |a: &&Alert| a.key == alert.key && a.state == alert.state;
                match told.iter_mut().find(|(a, _)| same(a)) {
                    Some((_, channels)) => channels.push(label(kind_of(channel))),
                    None => told.push((alert, vec![label(kind_of(channel))])),
                }
            }
        }
        for (alert, channels) in &told {
            say!(
                "{}  {}: {}",
                clock(time),
                channels.join(" + "),
                said(alert, time, &style)
            );
        }
        let failing = report.results.iter().any(|r| r.is_failing());
        if failing != was_failing && told.is_empty() {
            let what = report
                .results
                .iter()
                .find(|r| r.is_failing())
                .and_then(|r| r.failure.as_ref())
                .map_or_else(
                    || "shop passes again".to_owned(),
                    |f| format!("shop failing: {}", f.message),
                );
            let held = if file.policy.is_quiet(time) {
                "quiet hours hold the notice"
            } else {
                "nobody is told yet"
            };
            say!("{}  {what} ({held})", clock(time));
        }
        was_failing = failing;
        if !pace.is_zero() {
            tokio::time::sleep(pace).await;
        }
    }
    let counts: Vec<String> = counts
        .iter()
        .map(|(channel, n)| format!("{} {n}", label(kind_of(channel))))
        .collect();
    say!(
        "\nmessages sent: {} (each one digest of its tick). `make run` shows how every channel type lays one out.",
        counts.join(", ")
    );
    say!("{NEXT_STEPS}");
    Ok(())
}
