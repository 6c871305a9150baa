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

/// What became of one post.
#[derive(Debug, PartialEq, Eq)]
pub enum Posted {
    /// The ingest has it.
    Kept,
    /// The ingest refuses it for good (malformed, too large): it is dropped, or it would block every
    /// later event.
    Refused(String),
    /// Try again later (the ingest is away, busy, or does not know the token yet).
    Later(String),
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
        let url = format!("{}/{kind}/{}", self.base, self.token.expose());
        let mut request = self.http.post(url).body(body);
        if json {
            request = request.header("content-type", "application/json");
        }
        let status = match request.send().await {
            Ok(response) => response.status(),
            Err(error) => return Posted::Later(reason(error)),
        };
        match status.as_u16() {
            200..=299 => Posted::Kept,
            404 => Posted::Later(
                "the ingest does not know this token (is the host's monitor in lookout.yaml, and deployed?)"
                    .into(),
            ),
            400 | 413 | 422 => Posted::Refused(format!("the ingest refused it: HTTP {status}")),
            _ => Posted::Later(format!("HTTP {status}")),
        }
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

/// Delivers `spool` to `ingest` until the process ends: each event in order, removed once the
/// ingest has it; a ping whenever `tick` is set. `wake` says something changed.
pub async fn run(ingest: Ingest, spool: Arc<Spool>, wake: Arc<Notify>, tick: Arc<AtomicBool>) {
    let ping = || async {
        if tick.swap(false, Ordering::SeqCst)
            && let Posted::Later(why) | Posted::Refused(why) =
                ingest.post("ping", String::new(), false).await
        {
            // A late heartbeat would lie about the host's liveness: it is not kept.
            tracing::warn!(reason = %why, "the heartbeat did not reach the ingest");
        }
    };
    let mut failures: u32 = 0;
    loop {
        ping().await;
        let next = match spool.oldest() {
            Ok(next) => next,
            Err(error) => {
                tracing::error!(%error, "the spool could not be read");
                tokio::time::sleep(Duration::from_secs(5)).await;
                continue;
            }
        };
        let Some(event) = next else {
            let _ = tokio::time::timeout(IDLE, wake.notified()).await;
            continue;
        };
        match ingest.post("event", event.body, true).await {
            Posted::Kept => {
                failures = 0;
                if let Err(error) = spool.remove(event.sequence) {
                    tracing::error!(%error, "a delivered event could not be removed from the spool");
                }
            }
            Posted::Refused(why) => {
                tracing::error!(reason = %why, sequence = event.sequence, "event dropped");
                let _ = spool.remove(event.sequence);
            }
            Posted::Later(why) => {
                failures = failures.saturating_add(1);
                let wait = BACKOFF.delay(failures.saturating_add(1));
                tracing::warn!(reason = %why, wait_ms = wait.as_millis() as u64, "event not delivered yet");
                // Heartbeats still go out while events wait.
                let until = Instant::now() + wait;
                while tokio::time::timeout_at(until, wake.notified())
                    .await
                    .is_ok()
                {
                    ping().await;
                }
            }
        }
    }
}
