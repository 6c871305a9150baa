//! Where incident state lives between ticks: one [`StateStore`] trait, one module per store.
//!
//! Idempotency lives here too: every tick id is recorded once per function, so a redelivered event
//! (or an overlapping invocation of the same tick) changes nothing and sends nothing. Incident writes
//! are conditional on the version read, so two invocations cannot both claim the same notice.

pub mod dynamodb;
pub mod file;
pub mod memory;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::lifecycle::Incident;
use crate::config::{ConfigError, Env, SetupError};

/// How long tick ids are remembered: longer than EventBridge and Lambda keep retrying an event.
pub const TICK_MEMORY_HOURS: i64 = 48;
/// How long a closed, idle incident is kept.
pub const IDLE_INCIDENT_DAYS: i64 = 7;

/// An incident with the version it was stored at.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned {
    /// The state.
    pub incident: Incident,
    /// Its version, for conditional writes.
    pub version: u64,
}

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

/// Keeps incident state and the tick ledger.
#[async_trait]
pub trait StateStore: Send + Sync {
    /// Records a tick of a function. False when it was recorded before.
    async fn record_tick(
        &self,
        function: &str,
        tick_id: &str,
        time: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Every incident kept for a function.
    async fn load(&self, function: &str) -> Result<Vec<Versioned>, StoreError>;

    /// Writes an incident if it is still at `expected` (`None`: if it does not exist yet).
    /// Returns the new version, or `None` when another writer got there first.
    async fn save(
        &self,
        incident: &Incident,
        expected: Option<u64>,
    ) -> Result<Option<u64>, StoreError>;
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

#[cfg(test)]
pub(crate) mod contract {
    //! The behaviour every store must have; each store's tests run it.
    use super::*;
    use crate::alerting::lifecycle::Status;
    use crate::checks::Health;
    use chrono::TimeZone;

    pub fn incident(key: &str, failures: u32) -> Incident {
        Incident {
            key: key.into(),
            function: "site-status".into(),
            target: key.trim_start_matches("site-status:").into(),
            status: if failures > 0 {
                Status::Open
            } else {
                Status::Ok
            },
            health: Health::Failing,
            kind: Some("status".into()),
            message: "answered 503".into(),
            began_at: None,
            recovering_since: None,
            failures,
            successes: 0,
            channels: Default::default(),
            updated_at: Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap(),
            memory: None,
        }
    }

    pub async fn ticks_are_recorded_once(store: &dyn StateStore) {
        let at = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
        assert!(store.record_tick("site-status", "t1", at).await.unwrap());
        assert!(!store.record_tick("site-status", "t1", at).await.unwrap());
        assert!(
            store.record_tick("kafka-lag", "t1", at).await.unwrap(),
            "ledgers are per function"
        );
        assert!(store.record_tick("site-status", "t2", at).await.unwrap());
    }

    pub async fn writes_are_conditional_on_the_version(store: &dyn StateStore) {
        let first = incident("site-status:https://a/", 1);
        let v1 = store
            .save(&first, None)
            .await
            .unwrap()
            .expect("a new incident is written");
        assert_eq!(
            store.save(&first, None).await.unwrap(),
            None,
            "it exists already"
        );
        let second = incident("site-status:https://a/", 2);
        let v2 = store
            .save(&second, Some(v1))
            .await
            .unwrap()
            .expect("the version matches");
        assert!(v2 > v1);
        assert_eq!(
            store.save(&second, Some(v1)).await.unwrap(),
            None,
            "a stale version loses"
        );
        store
            .save(&incident("site-status:https://b/", 1), None)
            .await
            .unwrap();
        let mut loaded = store.load("site-status").await.unwrap();
        loaded.sort_by(|a, b| a.incident.key.cmp(&b.incident.key));
        assert_eq!(loaded.len(), 2);
        assert_eq!(loaded[0].incident, second);
        assert_eq!(loaded[0].version, v2);
        assert!(store.load("kafka-lag").await.unwrap().is_empty());
    }
}
