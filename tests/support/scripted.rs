//! A check that answers from a script, and channels that record what they are sent.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lookout::alerting::Digest;
use lookout::checks::site::SiteMeasurement;
use lookout::checks::{Check, CheckResult, Failure, Health, Measurement, Memory, Naming};
use lookout::monitor::Invocation;
use lookout::notify::{DeliveryError, Notifier, Receipt};
use lookout::tick::{Tick, TickSource};
use tokio::time::Instant;

/// A scheduled tick at `time`, its id made of the time.
pub fn tick_at(time: DateTime<Utc>) -> Tick {
    Tick {
        id: format!("tick-{}", time.timestamp()),
        time,
        source: TickSource::Schedule,
    }
}

/// A fresh invocation with ten seconds to run.
pub fn invocation() -> Invocation {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    Invocation::new(format!("request-{n}"), std::time::Duration::from_secs(10))
}

type Script = dyn Fn(DateTime<Utc>) -> Vec<(String, bool)> + Send + Sync;

/// A site-status check whose targets fail when the script says so.
pub struct ScriptedCheck(pub Box<Script>);

#[async_trait]
impl Check for ScriptedCheck {
    fn function(&self) -> &'static str {
        "site-status"
    }

    fn naming(&self) -> &Naming {
        static NAMING: Naming = Naming::Function("site-status");
        &NAMING
    }

    async fn run(&self, tick: &Tick, _memory: &Memory, _deadline: Instant) -> Vec<CheckResult> {
        (self.0)(tick.time)
            .into_iter()
            .map(|(target, failing)| result(&target, failing))
            .collect()
    }
}

/// A site-status result for `target`.
pub fn result(target: &str, failing: bool) -> CheckResult {
    CheckResult {
        since: None,
        key: format!("site-status:{target}"),
        target: target.into(),
        health: if failing { Health::Failing } else { Health::Ok },
        failure: failing.then(|| Failure {
            kind: "status",
            message: "answered 503 Service Unavailable, expected 200-299 (SITE_EXPECTED_STATUS)"
                .into(),
        }),
        measurement: Measurement::Site(SiteMeasurement {
            url: target.into(),
            final_url: None,
            status: Some(if failing { 503 } else { 200 }),
            elapsed_ms: 12,
            cert_days_left: None,
            attempts: 1,
        }),
        memory: None,
    }
}

/// Everything sent to recording channels, in order.
pub type Sent = Arc<Mutex<Vec<(&'static str, Digest)>>>;

/// A channel that records each digest, and can be told to fail or to stall (never answer).
pub struct Recorder {
    pub name: &'static str,
    pub sent: Sent,
    pub failing: Arc<Mutex<bool>>,
    pub stalling: Arc<Mutex<bool>>,
}

impl Recorder {
    pub fn new(name: &'static str, sent: &Sent) -> Self {
        Recorder {
            name,
            sent: Arc::clone(sent),
            failing: Arc::new(Mutex::new(false)),
            stalling: Arc::new(Mutex::new(false)),
        }
    }
}

#[async_trait]
impl Notifier for Recorder {
    fn channel(&self) -> &'static str {
        self.name
    }

    async fn deliver(&self, digest: &Digest) -> Result<Receipt, DeliveryError> {
        if *self.stalling.lock().unwrap() {
            std::future::pending::<()>().await;
        }
        if *self.failing.lock().unwrap() {
            return Err(DeliveryError::permanent("the channel is down"));
        }
        self.sent.lock().unwrap().push((self.name, digest.clone()));
        Ok(Receipt::default())
    }
}

/// A digest of `n + 1` failing sites (so each differs from the last).
pub fn digest_with(n: usize) -> Digest {
    let time = Utc::now();
    Digest {
        function: "site-status",
        time,
        alerts: (0..=n)
            .map(|i| lookout::alerting::Alert {
                key: format!("site-status:https://site-{i}/"),
                function: "site-status",
                target: format!("https://site-{i}/"),
                state: lookout::alerting::AlertState::Failing,
                kind: Some("status".into()),
                message: "answered 503".into(),
                since: time,
                until: None,
                step: Some(1),
                note: None,
                channels: vec![],
                answer: None,
                links: None,
            })
            .collect(),
    }
}
