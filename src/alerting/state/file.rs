//! A local JSON file, for `make run` and laptops: written whole, to a temporary file that is then
//! renamed over the old one, so a crash leaves either the old state or the new, never half of one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

use super::{StateStore, StoreError, TICK_MEMORY_HOURS, Versioned, expires_at, next_version};
use crate::alerting::lifecycle::Incident;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Contents {
    /// Per function: tick id -> tick time.
    #[serde(default)]
    ticks: BTreeMap<String, BTreeMap<String, DateTime<Utc>>>,
    /// Per incident key.
    #[serde(default)]
    incidents: BTreeMap<String, Stored>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    version: u64,
    incident: Incident,
}

/// State in one JSON file. One process at a time (a lock serializes this process's writers).
pub struct FileStore {
    path: PathBuf,
    lock: Mutex<()>,
}

impl FileStore {
    /// A store at `path` (created with its folder on first write).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileStore {
            path: path.into(),
            lock: Mutex::new(()),
        }
    }

    /// Where the state is kept.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn temporary_path(&self) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".tmp");
        PathBuf::from(name)
    }

    async fn read(&self) -> Result<Contents, StoreError> {
        match tokio::fs::read(&self.path).await {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                StoreError::Corrupt(format!(
                    "{} is not lookout state ({e}): move it away to start afresh",
                    self.path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Contents::default()),
            Err(e) => Err(StoreError::Unavailable(format!(
                "cannot read {}: {e}",
                self.path.display()
            ))),
        }
    }

    async fn write(&self, contents: &Contents) -> Result<(), StoreError> {
        let unavailable = |what: &str, e: std::io::Error| {
            StoreError::Unavailable(format!("cannot {what} {}: {e}", self.path.display()))
        };
        if let Some(folder) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(folder)
                .await
                .map_err(|e| unavailable("create the folder of", e))?;
        }
        let bytes = serde_json::to_vec_pretty(contents)
            .map_err(|e| StoreError::Unavailable(format!("cannot encode the state: {e}")))?;
        let temporary = self.temporary_path();
        let mut file = tokio::fs::File::create(&temporary)
            .await
            .map_err(|e| unavailable("write next to", e))?;
        file.write_all(&bytes)
            .await
            .map_err(|e| unavailable("write next to", e))?;
        file.sync_all()
            .await
            .map_err(|e| unavailable("write next to", e))?;
        drop(file);
        tokio::fs::rename(&temporary, &self.path)
            .await
            .map_err(|e| unavailable("replace", e))
    }
}

#[async_trait]
impl StateStore for FileStore {
    async fn record_tick(
        &self,
        function: &str,
        tick_id: &str,
        time: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let _guard = self.lock.lock().await;
        let mut contents = self.read().await?;
        let ledger = contents.ticks.entry(function.to_owned()).or_default();
        if ledger.contains_key(tick_id) {
            return Ok(false);
        }
        let horizon = time - Duration::hours(TICK_MEMORY_HOURS);
        ledger.retain(|_, at| *at >= horizon);
        ledger.insert(tick_id.to_owned(), time);
        self.write(&contents).await?;
        Ok(true)
    }

    async fn load(&self, function: &str) -> Result<Vec<Versioned>, StoreError> {
        let _guard = self.lock.lock().await;
        Ok(self
            .read()
            .await?
            .incidents
            .into_values()
            .filter(|s| s.incident.function == function)
            .map(|s| Versioned {
                incident: s.incident,
                version: s.version,
            })
            .collect())
    }

    async fn save(
        &self,
        incident: &Incident,
        expected: Option<u64>,
    ) -> Result<Option<u64>, StoreError> {
        let _guard = self.lock.lock().await;
        let mut contents = self.read().await?;
        let current = contents.incidents.get(&incident.key).map(|s| s.version);
        let Some(version) = next_version(current, expected) else {
            return Ok(None);
        };
        contents
            .incidents
            .retain(|_, s| expires_at(&s.incident).is_none_or(|at| at > incident.updated_at));
        contents.incidents.insert(
            incident.key.clone(),
            Stored {
                version,
                incident: incident.clone(),
            },
        );
        self.write(&contents).await?;
        Ok(Some(version))
    }
}

#[cfg(test)]
mod tests {
    use super::super::contract;
    use super::*;

    fn store_in(dir: &tempfile::TempDir) -> FileStore {
        FileStore::new(dir.path().join("nested").join("state.json"))
    }

    #[tokio::test]
    async fn keeps_the_store_contract() {
        let dir = tempfile::tempdir().unwrap();
        contract::ticks_are_recorded_once(&store_in(&dir)).await;
        let dir = tempfile::tempdir().unwrap();
        contract::writes_are_conditional_on_the_version(&store_in(&dir)).await;
    }

    #[tokio::test]
    async fn state_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let incident = contract::incident("site-status:https://a/", 3);
        {
            let store = store_in(&dir);
            store.save(&incident, None).await.unwrap();
            store
                .record_tick("site-status", "t1", incident.updated_at)
                .await
                .unwrap();
        }
        let reopened = store_in(&dir);
        let loaded = reopened.load("site-status").await.unwrap();
        assert_eq!(
            loaded,
            vec![Versioned {
                incident,
                version: 1
            }]
        );
        assert!(
            !reopened
                .record_tick("site-status", "t1", Utc::now())
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn a_crash_between_write_and_rename_leaves_the_old_state() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(&dir);
        let incident = contract::incident("site-status:https://a/", 1);
        store.save(&incident, None).await.unwrap();
        // The crash: a half-written temporary file, never renamed.
        std::fs::write(
            store.temporary_path(),
            b"{\"incidents\": {\"site-status:https",
        )
        .unwrap();
        let restarted = store_in(&dir);
        let loaded = restarted.load("site-status").await.unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].incident, incident);
        // The next write replaces the leftover.
        let next = contract::incident("site-status:https://a/", 2);
        assert_eq!(restarted.save(&next, Some(1)).await.unwrap(), Some(2));
        assert_eq!(
            restarted.load("site-status").await.unwrap()[0].incident,
            next
        );
    }

    #[tokio::test]
    async fn a_corrupt_file_is_named_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(&dir);
        std::fs::create_dir_all(store.path().parent().unwrap()).unwrap();
        std::fs::write(store.path(), b"not json").unwrap();
        let error = store.load("site-status").await.unwrap_err().to_string();
        assert!(
            error.contains("state.json") && error.contains("move it away"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn old_ticks_and_idle_incidents_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(&dir);
        let start = contract::incident("site-status:https://a/", 0).updated_at;
        store
            .record_tick("site-status", "old", start)
            .await
            .unwrap();
        store
            .record_tick("site-status", "new", start + Duration::hours(49))
            .await
            .unwrap();
        assert!(
            store
                .record_tick("site-status", "old", start + Duration::hours(49))
                .await
                .unwrap()
        );
        store
            .save(&contract::incident("site-status:https://idle/", 0), None)
            .await
            .unwrap();
        let mut later = contract::incident("site-status:https://b/", 1);
        later.updated_at = start + Duration::days(8);
        store.save(&later, None).await.unwrap();
        let keys: Vec<String> = store
            .load("site-status")
            .await
            .unwrap()
            .into_iter()
            .map(|v| v.incident.key)
            .collect();
        assert_eq!(keys, vec!["site-status:https://b/"]);
    }
}
