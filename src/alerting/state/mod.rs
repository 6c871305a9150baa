//! Where incident state lives between ticks: one [`StateStore`] trait, one module per store.
//!
//! Idempotency lives here too. A tick is recorded as *finished* once its notices are settled, so a
//! redelivered event of a finished tick changes nothing and sends nothing, while Lambda's retry of an
//! unfinished one (every channel failed, a timeout, a crash) runs again and delivers what it owes.
//! Incident writes are conditional on the version read, so two invocations cannot both claim the
//! same notice.

pub mod dynamodb;
pub mod file;
pub mod memory;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::lifecycle::Incident;
use crate::config::{ConfigError, Env, SetupError};
pub use crate::history::History;
pub use crate::ledger::{
    Ledger, REFUSAL_MEMORY_DAYS, Refusals, StoreError, minute_of, refusals_since, refuse_in,
};

/// How long finished tick ids are remembered: longer than EventBridge and Lambda keep retrying.
pub const TICK_MEMORY_HOURS: i64 = 48;
/// How long a closed, idle incident is kept.
pub const IDLE_INCIDENT_DAYS: i64 = 7;
/// The most an incident's stored state may take (DynamoDB refuses items over 400 KB).
pub const MAX_STATE_BYTES: usize = 350 * 1024;
/// The longest incident message kept once a state has to be made smaller.
const COMPACT_MESSAGE_CHARS: usize = 2000;

/// An incident with the version it was stored at.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned {
    /// The state.
    pub incident: Incident,
    /// Its version, for conditional writes.
    pub version: u64,
}

/// One incident to write if it is still at `expected` (`None`: if it does not exist yet).
#[derive(Debug, Clone, Copy)]
pub struct Write<'a> {
    /// The new state.
    pub incident: &'a Incident,
    /// The version it was read at.
    pub expected: Option<u64>,
}

/// What one phase of a tick writes at once: incidents, and the tick finished when it is.
#[derive(Debug, Clone)]
pub struct Commit<'a> {
    /// The function the tick belongs to.
    pub function: &'a str,
    /// Conditional incident writes.
    pub writes: Vec<Write<'a>>,
    /// `(tick id, tick time)` when the tick is finished: its notices are settled.
    pub finished_tick: Option<(&'a str, DateTime<Utc>)>,
}

/// Incident state and the record of finished ticks: what the lifecycle reads and writes.
#[async_trait]
pub trait Incidents: Send + Sync {
    /// True when this tick of the function finished before (its record has not expired).
    async fn tick_finished(&self, function: &str, tick_id: &str) -> Result<bool, StoreError>;

    /// Every incident kept for a function (expired ones left out).
    async fn load(&self, function: &str) -> Result<Vec<Versioned>, StoreError>;

    /// One incident, as stored now.
    async fn get(&self, function: &str, key: &str) -> Result<Option<Versioned>, StoreError>;

    /// Writes a phase of a tick. Per write, the new version, or `None` when another writer got
    /// there first (that write is not made).
    async fn commit(&self, commit: &Commit<'_>) -> Result<Vec<Option<u64>>, StoreError>;
}

/// Daily budgets (a phone number's SMS of the day): what a channel with a limit spends.
#[async_trait]
pub trait Budgets: Send + Sync {
    /// Spends one unit of a budget (a phone number's SMS of the day, say): true when fewer than
    /// `limit` were spent and this one is counted. The count is forgotten after `expires`.
    async fn spend(
        &self,
        budget: &str,
        limit: u32,
        expires: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Gives a unit back (what was counted did not go out after all).
    async fn refund(&self, budget: &str) -> Result<(), StoreError>;
}

/// The whole store a function keeps: incidents and ticks, budgets, the ledger of what hosts and
/// jobs sent, and the history of what ticks found. Each part sees only its concern: the ingest and
/// the checks get the [`Ledger`] (`Arc<dyn Ledger>`), a channel with a limit the [`Budgets`].
pub trait StateStore: Incidents + Budgets + Ledger + History {}

impl<T: Incidents + Budgets + Ledger + History + ?Sized> StateStore for T {}

/// The function's whole store, shared by its parts.
pub type SharedStore = std::sync::Arc<dyn StateStore>;

/// A daily budget as the memory and file stores keep it: what was spent, and when it is forgotten.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Budget {
    /// Units spent.
    pub spent: u32,
    /// When the count starts again.
    pub expires_at: DateTime<Utc>,
}

/// Spends one unit of `key` in `budgets` (an expired count starts again): true when fewer than
/// `limit` were spent.
pub fn spend_in(
    budgets: &mut std::collections::BTreeMap<String, Budget>,
    key: &str,
    limit: u32,
    expires: DateTime<Utc>,
    now: DateTime<Utc>,
) -> bool {
    let fresh = Budget {
        spent: 0,
        expires_at: expires,
    };
    let budget = budgets
        .entry(key.to_owned())
        .or_insert_with(|| fresh.clone());
    if budget.expires_at <= now {
        *budget = fresh;
    }
    if budget.spent >= limit {
        return false;
    }
    budget.spent += 1;
    true
}

/// Gives a unit of `key` back; true when there was one to give.
pub fn refund_in(budgets: &mut std::collections::BTreeMap<String, Budget>, key: &str) -> bool {
    match budgets.get_mut(key) {
        Some(budget) if budget.spent > 0 => {
            budget.spent -= 1;
            true
        }
        _ => false,
    }
}

/// The store the environment asks for: DynamoDB when `STATE_TABLE` is set, else a local file
/// (`STATE_FILE`, default `.lookout/state.json`). Under Lambda a file must be asked for by name.
pub async fn from_env(env: &Env, in_lambda: bool) -> Result<Box<dyn StateStore>, SetupError> {
    if let Some(table) = env.get("STATE_TABLE") {
        let config = crate::aws::sdk_config().await;
        if config.region().is_none() {
            return Err(ConfigError::Missing {
                var: "AWS_REGION",
                hint: "STATE_TABLE is a DynamoDB table in a region: set AWS_REGION".into(),
            }
            .into());
        }
        let client = aws_sdk_dynamodb::Client::new(&config);
        return Ok(Box::new(dynamodb::DynamoDbStore::new(client, table)));
    }
    let path = match (env.get("STATE_FILE"), in_lambda) {
        (Some(path), _) => path,
        (None, false) => ".lookout/state.json",
        (None, true) => {
            return Err(ConfigError::Missing {
                var: "STATE_TABLE",
                hint: "under Lambda lookout keeps alert state in DynamoDB: set STATE_TABLE to the table's name (the SAM template does), or STATE_FILE=/tmp/lookout-state.json to keep state only while an instance is warm".into(),
            }
            .into());
        }
    };
    Ok(Box::new(file::FileStore::new(path)))
}

/// The version a conditional write stores: `None` when the stored version is no longer `expected`
/// (another writer got there first).
pub fn next_version(current: Option<u64>, expected: Option<u64>) -> Option<u64> {
    (current == expected).then(|| expected.unwrap_or(0) + 1)
}

/// When an incident's record may be forgotten: settled ones expire (a check's memory with them,
/// once nothing has touched it for a week); open ones never do.
pub fn expires_at(incident: &Incident) -> Option<DateTime<Utc>> {
    incident
        .is_settled()
        .then(|| incident.updated_at + chrono::Duration::days(IDLE_INCIDENT_DAYS))
}

/// True when a record that expires at `expires` is gone by `now` (stores delete lazily: DynamoDB's
/// TTL can take days, so reads filter too).
pub fn expired(expires: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    expires.is_some_and(|at| at <= now)
}

fn to_json(incident: &Incident) -> Result<String, StoreError> {
    serde_json::to_string(incident)
        .map_err(|e| StoreError::Unavailable(format!("cannot encode the state: {e}")))
}

/// An incident's state as stored, and its JSON: at most [`MAX_STATE_BYTES`]. A larger one (a huge
/// message, a check's long memory) loses its memory and the tail of its message, so the incident
/// keeps its place in the lifecycle rather than failing to be written at all.
fn fitted(incident: &Incident) -> Result<(Option<Incident>, String), StoreError> {
    let text = to_json(incident)?;
    if text.len() <= MAX_STATE_BYTES {
        return Ok((None, text));
    }
    let mut smaller = incident.clone();
    smaller.memory = None;
    if smaller.message.chars().count() > COMPACT_MESSAGE_CHARS {
        smaller.message = smaller
            .message
            .chars()
            .take(COMPACT_MESSAGE_CHARS)
            .chain("…".chars())
            .collect();
    }
    for progress in smaller.channels.values_mut() {
        let excess = progress.owed.len().saturating_sub(5);
        progress.owed.drain(..excess);
    }
    tracing::warn!(key = %incident.key, bytes = text.len(), "an incident's state is too large to keep whole: its check memory and the tail of its message are dropped");
    let text = to_json(&smaller)?;
    if text.len() > MAX_STATE_BYTES {
        return Err(StoreError::Unavailable(format!(
            "the state of {} takes {} bytes, more than the {MAX_STATE_BYTES} a record may hold",
            incident.key,
            text.len()
        )));
    }
    Ok((Some(smaller), text))
}

/// An incident's state as stored: JSON of at most [`MAX_STATE_BYTES`] (see [`fit`]).
pub fn encode(incident: &Incident) -> Result<String, StoreError> {
    fitted(incident).map(|(_, text)| text)
}

/// The incident as a store keeps it: itself, or made smaller when its state would take more than
/// [`MAX_STATE_BYTES`] (its check memory and the tail of its message dropped).
pub fn fit(incident: &Incident) -> Result<Incident, StoreError> {
    fitted(incident).map(|(smaller, _)| smaller.unwrap_or_else(|| incident.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_too_large_to_store_loses_memory_and_tail_not_its_place() {
        let mut incident: Incident = serde_json::from_value(serde_json::json!({
            "key": "site-status:https://a/", "function": "site-status", "target": "https://a/",
            "status": "open", "health": "failing", "kind": "status", "message": "m",
            "began_at": null, "recovering_since": null, "failures": 3, "successes": 0,
            "channels": {}, "updated_at": "2026-05-01T00:00:00Z"
        }))
        .unwrap();
        assert!(encode(&incident).unwrap().len() < 1000);
        incident.message = "界".repeat(200_000);
        incident.memory = Some(serde_json::json!(vec!["x"; 100_000]));
        let text = encode(&incident).unwrap();
        assert!(text.len() <= MAX_STATE_BYTES);
        let back: Incident = serde_json::from_str(&text).unwrap();
        assert_eq!((back.failures, back.memory), (3, None));
        assert!(back.message.starts_with("界界"));
    }
}
