//! Delivers the spool to the ingest, oldest first, one at a time, with backoff while the ingest
//! is away; and the host's heartbeat (`/ping/<token>`) when supervisord ticks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::spool::Spool;
use crate::config::Secret;
use crate::retry::Backoff;

/// How long a post may take.
const POST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the sender sleeps with nothing to do before it looks at the spool again.
const IDLE: Duration = Duration::from_secs(60);
/// The wait between attempts while the ingest is away: 1 s, doubling to a minute.
const BACKOFF: Backoff = Backoff {
    base: Duration::from_secs(1),
    max: Duration::from_secs(60),
    max_attempts: u32::MAX,
};

/// How long a heartbeat (a `TICK_60` ping, a report) is tried again while the ingest is busy: a
/// minute, then the next one is due.
pub const RIDE_OUT: Duration = Duration::from_secs(60);
/// The waits between those tries: 1 s doubling, jittered, so hosts refused together spread out.
const RIDE_OUT_BACKOFF: Backoff = Backoff {
    base: Duration::from_secs(1),
    max: Duration::from_secs(16),
    max_attempts: u32::MAX,
};

/// What became of one post.
#[derive(Debug, PartialEq, Eq)]
pub enum Posted {
    /// The ingest has it.
    Kept,
    /// The ingest refuses it for good (malformed, too large): it is dropped, or it would block every
    /// later event.
    Refused(String),
    /// The ingest is busy or away (429, 5xx, no answer): a moment later it may take it.
    Busy(String),
    /// Try again later (the ingest does not know the token yet).
    Later(String),
}

impl crate::retry::Retryable for Posted {
    fn is_retryable(&self) -> bool {
        matches!(self, Posted::Busy(_))
    }
}

/// The ingest, as the agent talks to it.
#[derive(Clone)]
pub struct Ingest {
    http: reqwest::Client,
    base: String,
    token: Secret,
}

impl Ingest {
    /// The ingest at `url` (the stack's `IngestUrl`), with the host's token.
    pub fn new(url: &url::Url, token: Secret) -> Result<Ingest, String> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("lookout-agent/", env!("CARGO_PKG_VERSION")))
            .timeout(POST_TIMEOUT)
            .build()
            .map_err(|e| format!("could not build the HTTP client: {}", e.without_url()))?;
        Ok(Ingest {
            http,
            base: url.as_str().trim_end_matches('/').to_owned(),
            token,
        })
    }

    /// Posts `body` to `/<kind>/<token>` (`event` or `ping`).
    pub async fn post(&self, kind: &str, body: String, json: bool) -> Posted {
        self.post_at(kind, "", body, json).await
    }

    /// As [`Ingest::post`], to `<kind>/<token><tail>` (`/start?rid=...`).
    pub async fn post_at(&self, kind: &str, tail: &str, body: String, json: bool) -> Posted {
        let url = format!("{}/{kind}/{}{tail}", self.base, self.token.expose());
        // Behind the stack's shield (CloudFront signing for the Function URL), a POST's body is
        // taken only with its SHA-256 said; without the shield it is not looked at.
        let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body.as_bytes()));
        let mut request = self
            .http
            .post(url)
            .header("x-amz-content-sha256", digest)
            .body(body);
        if json {
            request = request.header("content-type", "application/json");
        }
        let status = match request.send().await {
            Ok(response) => response.status(),
            Err(error) => return Posted::Busy(reason(error)),
        };
        match status.as_u16() {
            200..=299 => Posted::Kept,
            404 => Posted::Later(
                "the ingest does not know this token (is the host's monitor in lookout.yaml, and deployed?)"
                    .into(),
            ),
            400 | 413 | 422 => Posted::Refused(format!("the ingest refused it: HTTP {status}")),
            429 | 500..=599 => Posted::Busy(format!("HTTP {status}")),
            _ => Posted::Later(format!("HTTP {status}")),
        }
    }

    /// Posts `body`, trying again while the ingest is busy (429, 5xx, no answer) with jittered
    /// backoff, for at most `within`: a throttled ingest a minute long costs no heartbeat.
    pub async fn post_riding_out(
        &self,
        kind: &str,
        body: String,
        json: bool,
        within: Duration,
    ) -> Posted {
        self.post_riding_out_at(kind, "", body, json, within).await
    }

    /// As [`Ingest::post_riding_out`], to `<kind>/<token><tail>`.
    pub async fn post_riding_out_at(
        &self,
        kind: &str,
        tail: &str,
        body: String,
        json: bool,
        within: Duration,
    ) -> Posted {
        let deadline = Instant::now() + within;
        let (posted, attempts) = crate::retry::retry(RIDE_OUT_BACKOFF, deadline, |_| {
            let body = body.clone();
            async move {
                match self.post_at(kind, tail, body, json).await {
                    Posted::Kept => Ok(()),
                    other => Err(other),
                }
            }
        })
        .await;
        if attempts > 1 {
            tracing::info!(
                attempts,
                kept = posted.is_ok(),
                "the ingest was busy: tried again"
            );
        }
        posted.err().unwrap_or(Posted::Kept)
    }
}

/// Why a request failed, with its causes ("error sending request: ... Connection refused"), and
/// never the URL: the token is in it.
fn reason(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// Delivers `spool` to `ingest` until the process ends: each event in order, out of the queue
/// once the ingest has it (its file removed, or left when it cannot be); a heartbeat whenever
/// `tick` is set, tried for up to [`RIDE_OUT`] on a task of its own so events do not wait for it.
/// Every repeated failure, of the ingest or of the disk, waits 1 s doubling to a minute: in any
/// fault the sender makes at most a post a second.
pub async fn run(ingest: Ingest, spool: Arc<Spool>, wake: Arc<Notify>, tick: Arc<AtomicBool>) {
    let mut beating: Option<tokio::task::JoinHandle<()>> = None;
    let beat = |beating: &mut Option<tokio::task::JoinHandle<()>>| {
        // A heartbeat still being tried stands for this one too.
        if beating.as_ref().is_some_and(|b| !b.is_finished()) || !tick.swap(false, Ordering::SeqCst)
        {
            return;
        }
        let ingest = ingest.clone();
        *beating = Some(tokio::spawn(async move {
            if let Posted::Later(why) | Posted::Refused(why) | Posted::Busy(why) = ingest
                .post_riding_out("ping", String::new(), false, RIDE_OUT)
                .await
            {
                // A late heartbeat would lie about the host's liveness: it is not kept.
                tracing::warn!(reason = %why, "the heartbeat did not reach the ingest");
            }
        }));
    };
    let mut failures: u32 = 0;
    loop {
        beat(&mut beating);
        let failed = match spool.oldest() {
            Err(error) => {
                tracing::error!(%error, "the spool could not be read");
                true
            }
            Ok(None) => {
                failures = 0;
                let _ = tokio::time::timeout(IDLE, wake.notified()).await;
                continue;
            }
            Ok(Some(event)) => match ingest.post("event", event.body, true).await {
                Posted::Kept => match spool.remove(event.sequence) {
                    Ok(()) => false,
                    Err(error) => {
                        tracing::error!(%error, sequence = event.sequence, "a delivered event's file could not be removed: it is not sent again");
                        true
                    }
                },
                Posted::Refused(why) => {
                    tracing::error!(reason = %why, sequence = event.sequence, "event dropped");
                    spool.remove(event.sequence).is_err()
                }
                Posted::Later(why) | Posted::Busy(why) => {
                    tracing::warn!(reason = %why, "event not delivered yet");
                    true
                }
            },
        };
        if !failed {
            failures = 0;
            continue;
        }
        failures = failures.saturating_add(1);
        let wait = BACKOFF.delay(failures.saturating_add(1));
        tracing::debug!(
            wait_ms = wait.as_millis() as u64,
            "waiting before the next try"
        );
        // Heartbeats still go out while events wait.
        let until = Instant::now() + wait;
        while tokio::time::timeout_at(until, wake.notified())
            .await
            .is_ok()
        {
            beat(&mut beating);
        }
    }
}
