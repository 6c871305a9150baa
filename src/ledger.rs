//! The ledger: what hosts and jobs sent (pings, program events) and what the ingest refused, as the
//! ingest records it and the heartbeat and supervisor checks read it. Only the trait and its
//! helpers live here, below the checks; the stores that keep it are `alerting::state`'s.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::pings::{Ping, PingRecord};

/// Why the store could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached or refused the request.
    #[error("the state store is unavailable: {0}")]
    Unavailable(String),
    /// What the store holds cannot be read.
    #[error("the stored state cannot be read: {0}")]
    Corrupt(String),
}

/// What hosts and jobs sent, and what the ingest refused.
#[async_trait]
pub trait Ledger: Send + Sync {
    /// Keeps a heartbeat's ping in the record of its token's hash, when the record takes it
    /// ([`PingRecord::takes`]): true when it was kept. One conditional write, so of two pings
    /// racing, the later one stays.
    async fn record_ping(
        &self,
        token_hash: &str,
        monitor: &str,
        ping: &Ping,
        min_interval: chrono::Duration,
    ) -> Result<bool, StoreError>;

    /// The ping records of these token hashes (those that ever pinged), by hash.
    async fn pings(
        &self,
        token_hashes: &[String],
    ) -> Result<std::collections::HashMap<String, PingRecord>, StoreError>;

    /// Keeps a host's program event under its token's hash until `expires`, once: false when it
    /// was kept before (the agent resent it). One conditional write.
    async fn record_event(
        &self,
        token_hash: &str,
        event: &crate::events::ProcessEvent,
        expires: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// The events kept under a token's hash, oldest first (by the agent's time).
    async fn events(
        &self,
        token_hash: &str,
    ) -> Result<Vec<crate::events::ProcessEvent>, StoreError>;

    /// Counts a request the ingest refused at `at` (answered 5xx: it could not keep a ping), in
    /// its minute, for [`REFUSAL_MEMORY_DAYS`].
    async fn record_ingest_refusal(&self, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// The ingest's refusals per minute (the minute's start, the count) from `since`'s minute on,
    /// oldest first.
    async fn ingest_refusals(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, u64)>, StoreError>;
}

/// How long the ingest's refusals are remembered: longer than any silence is judged against them.
pub const REFUSAL_MEMORY_DAYS: i64 = 8;

/// The ingest's refusals per minute, as the memory and file stores keep them.
pub type Refusals = std::collections::BTreeMap<DateTime<Utc>, u64>;

/// The start of `at`'s minute.
pub fn minute_of(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(at.timestamp().div_euclid(60) * 60, 0).unwrap_or(at)
}

/// Counts a refusal at `at` in `refusals`, forgetting what is older than the memory.
pub fn refuse_in(refusals: &mut Refusals, at: DateTime<Utc>, now: DateTime<Utc>) {
    *refusals.entry(minute_of(at)).or_default() += 1;
    let oldest = now - chrono::Duration::days(REFUSAL_MEMORY_DAYS);
    refusals.retain(|minute, _| *minute >= oldest);
}

/// The refusals of `refusals` from `since`'s minute on, oldest first.
pub fn refusals_since(refusals: &Refusals, since: DateTime<Utc>) -> Vec<(DateTime<Utc>, u64)> {
    refusals
        .range(minute_of(since)..)
        .map(|(minute, count)| (*minute, *count))
        .collect()
}
