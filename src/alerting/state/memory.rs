//! An in-memory store, for tests and replays.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::Mutex;

use super::{StateStore, StoreError, Versioned, next_version};
use crate::alerting::lifecycle::Incident;

/// Keeps everything in this process.
#[derive(Default)]
pub struct MemoryStore {
    ticks: Mutex<HashSet<(String, String)>>,
    incidents: Mutex<HashMap<String, Versioned>>,
}

#[async_trait]
impl StateStore for MemoryStore {
    async fn record_tick(
        &self,
        function: &str,
        tick_id: &str,
        _: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(self
            .ticks
            .lock()
            .await
            .insert((function.to_owned(), tick_id.to_owned())))
    }

    async fn load(&self, function: &str) -> Result<Vec<Versioned>, StoreError> {
        Ok(self
            .incidents
            .lock()
            .await
            .values()
            .filter(|v| v.incident.function == function)
            .cloned()
            .collect())
    }

    async fn save(
        &self,
        incident: &Incident,
        expected: Option<u64>,
    ) -> Result<Option<u64>, StoreError> {
        let mut incidents = self.incidents.lock().await;
        let current = incidents.get(&incident.key).map(|v| v.version);
        let Some(version) = next_version(current, expected) else {
            return Ok(None);
        };
        incidents.insert(
            incident.key.clone(),
            Versioned {
                incident: incident.clone(),
                version,
            },
        );
        Ok(Some(version))
    }
}

#[cfg(test)]
mod tests {
    use super::super::contract;
    use super::*;

    #[tokio::test]
    async fn keeps_the_store_contract() {
        contract::ticks_are_recorded_once(&MemoryStore::default()).await;
        contract::writes_are_conditional_on_the_version(&MemoryStore::default()).await;
    }
}
