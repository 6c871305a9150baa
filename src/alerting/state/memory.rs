//! An in-memory store, for tests and replays.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use tokio::sync::Mutex;

use crate::history::{Closed, History, Record, Rollup};
use crate::pings::{Ping, PingRecord};

use super::{
    Budget, Budgets, Commit, Incidents, Ledger, StoreError, Versioned, expired, expires_at, fit,
    next_version, refund_in, spend_in,
};

/// Keeps everything in this process.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    ticks: HashMap<(String, String), DateTime<Utc>>,
    incidents: HashMap<String, Versioned>,
    budgets: BTreeMap<String, Budget>,
    pings: HashMap<String, PingRecord>,
    events: HashMap<String, crate::events::HostEvents>,
    refusals: super::Refusals,
    /// Per function and day: each tick's record, as text, by time.
    history: BTreeMap<(String, NaiveDate), BTreeMap<i64, String>>,
    /// Per monitor and day.
    rollups: BTreeMap<(String, NaiveDate), Rollup>,
    /// The days rolled up, per function.
    rolled_up: std::collections::BTreeSet<(String, NaiveDate)>,
    /// Incidents that closed, oldest first.
    closed: Vec<Closed>,
}

fn live(versioned: &Versioned, now: DateTime<Utc>) -> bool {
    !expired(expires_at(&versioned.incident), now)
}

#[async_trait]
impl Incidents for MemoryStore {
    async fn tick_finished(&self, function: &str, tick_id: &str) -> Result<bool, StoreError> {
        let inner = self.inner.lock().await;
        let key = (function.to_owned(), tick_id.to_owned());
        Ok(inner.ticks.contains_key(&key))
    }

    async fn load(&self, function: &str) -> Result<Vec<Versioned>, StoreError> {
        let now = Utc::now();
        Ok(self
            .inner
            .lock()
            .await
            .incidents
            .values()
            .filter(|v| v.incident.function == function && live(v, now))
            .cloned()
            .collect())
    }

    async fn get(&self, function: &str, key: &str) -> Result<Option<Versioned>, StoreError> {
        let now = Utc::now();
        Ok(self
            .inner
            .lock()
            .await
            .incidents
            .get(key)
            .filter(|v| v.incident.function == function && live(v, now))
            .cloned())
    }

    async fn commit(&self, commit: &Commit<'_>) -> Result<Vec<Option<u64>>, StoreError> {
        let mut inner = self.inner.lock().await;
        let now = Utc::now();
        let mut versions = Vec::with_capacity(commit.writes.len());
        for write in &commit.writes {
            let current = inner
                .incidents
                .get(&write.incident.key)
                .filter(|v| live(v, now))
                .map(|v| v.version);
            let version = next_version(current, write.expected);
            if let Some(version) = version {
                inner.incidents.insert(
                    write.incident.key.clone(),
                    Versioned {
                        incident: fit(write.incident)?,
                        version,
                    },
                );
            }
            versions.push(version);
        }
        if let Some((tick_id, time)) = commit.finished_tick {
            inner
                .ticks
                .insert((commit.function.to_owned(), tick_id.to_owned()), time);
        }
        Ok(versions)
    }
}

#[async_trait]
impl Budgets for MemoryStore {
    async fn spend(
        &self,
        budget: &str,
        limit: u32,
        expires: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let budgets = &mut self.inner.lock().await.budgets;
        Ok(spend_in(budgets, budget, limit, expires, Utc::now()))
    }

    async fn refund(&self, budget: &str) -> Result<(), StoreError> {
        refund_in(&mut self.inner.lock().await.budgets, budget);
        Ok(())
    }
}

#[async_trait]
impl Ledger for MemoryStore {
    async fn record_ping(
        &self,
        token_hash: &str,
        monitor: &str,
        ping: &Ping,
        min_interval: chrono::Duration,
    ) -> Result<bool, StoreError> {
        let mut inner = self.inner.lock().await;
        let previous = inner.pings.get(token_hash);
        if previous.is_some_and(|p| !p.takes(ping, min_interval)) {
            return Ok(false);
        }
        let record = PingRecord::after(previous, monitor, ping);
        inner.pings.insert(token_hash.to_owned(), record);
        Ok(true)
    }

    async fn pings(
        &self,
        token_hashes: &[String],
    ) -> Result<HashMap<String, PingRecord>, StoreError> {
        let inner = self.inner.lock().await;
        Ok(token_hashes
            .iter()
            .filter_map(|h| Some((h.clone(), inner.pings.get(h)?.clone())))
            .collect())
    }

    async fn record_event(
        &self,
        token_hash: &str,
        event: &crate::events::ProcessEvent,
        expires: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut inner = self.inner.lock().await;
        let host = inner.events.entry(token_hash.to_owned()).or_default();
        Ok(crate::events::keep_in(host, event, expires, Utc::now()))
    }

    async fn events(
        &self,
        token_hash: &str,
    ) -> Result<Vec<crate::events::ProcessEvent>, StoreError> {
        let inner = self.inner.lock().await;
        Ok(crate::events::live_in(
            inner.events.get(token_hash),
            Utc::now(),
        ))
    }

    async fn record_ingest_refusal(&self, at: DateTime<Utc>) -> Result<(), StoreError> {
        super::refuse_in(&mut self.inner.lock().await.refusals, at, Utc::now());
        Ok(())
    }

    async fn ingest_refusals(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, u64)>, StoreError> {
        Ok(super::refusals_since(
            &self.inner.lock().await.refusals,
            since,
        ))
    }
}

#[async_trait]
impl History for MemoryStore {
    async fn append(&self, record: &Record) -> Result<(), StoreError> {
        let mut inner = self.inner.lock().await;
        inner
            .history
            .entry((record.function.clone(), record.day()))
            .or_default()
            .insert(record.at.timestamp(), record.text());
        Ok(())
    }

    async fn day_chunks(
        &self,
        function: &str,
        day: NaiveDate,
        after: Option<DateTime<Utc>>,
    ) -> Result<Vec<String>, StoreError> {
        let inner = self.inner.lock().await;
        let from = after.map_or(i64::MIN, |at| at.timestamp().saturating_add(1));
        Ok(inner
            .history
            .get(&(function.to_owned(), day))
            .map(|ticks| ticks.range(from..).map(|(_, text)| text.clone()).collect())
            .unwrap_or_default())
    }

    async fn put_rollups(
        &self,
        function: &str,
        day: NaiveDate,
        rollups: &[Rollup],
    ) -> Result<(), StoreError> {
        let mut inner = self.inner.lock().await;
        for rollup in rollups {
            inner
                .rollups
                .insert((rollup.key.clone(), rollup.day), rollup.clone());
        }
        inner.rolled_up.insert((function.to_owned(), day));
        Ok(())
    }

    async fn record_closed(&self, closed: &Closed) -> Result<(), StoreError> {
        let mut inner = self.inner.lock().await;
        if !inner.closed.contains(closed) {
            inner.closed.push(closed.clone());
        }
        Ok(())
    }

    async fn closed(&self, function: &str, most: usize) -> Result<Vec<Closed>, StoreError> {
        let inner = self.inner.lock().await;
        let mut closed: Vec<Closed> = inner
            .closed
            .iter()
            .filter(|c| c.function == function)
            .cloned()
            .collect();
        closed.sort_by_key(|c| std::cmp::Reverse(c.ended_at));
        closed.truncate(most);
        Ok(closed)
    }

    async fn rolled_up(&self, function: &str, day: NaiveDate) -> Result<bool, StoreError> {
        let inner = self.inner.lock().await;
        Ok(inner.rolled_up.contains(&(function.to_owned(), day)))
    }

    async fn rollups(
        &self,
        keys: &[String],
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<Rollup>, StoreError> {
        let inner = self.inner.lock().await;
        Ok(keys
            .iter()
            .flat_map(|key| {
                inner
                    .rollups
                    .range((key.clone(), from)..=(key.clone(), to))
                    .map(|(_, r)| r.clone())
            })
            .collect())
    }
}
