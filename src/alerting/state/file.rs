//! A local JSON file, for `make run` and laptops.
//!
//! Every read-modify-write holds an exclusive lock on `<file>.lock`, so processes sharing the file
//! take turns (two local runs at once never both claim a notice). A write goes to a temporary file
//! of its own (`<file>.<pid>.<n>.tmp`), flushed, then renamed over the old file, so a crash leaves
//! either the old state or the new, never half of one. One tick writes the file at most twice (its
//! claims before sending, the outcome after), whatever the number of incidents. The file carries a
//! schema version: a file written by a newer lookout is refused, never silently truncated.
//!
//! The history sits beside the file, in `<file>.history/`: one append-only file per function and
//! day (`site-status-2026-12-06.log`), a tick's record appended whole under that folder's lock, each
//! file capped at [`HISTORY_CAP`] bytes (past it a tick's record is refused, and said so).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{
    Budget, Budgets, Commit, Incidents, Ledger, StoreError, TICK_MEMORY_HOURS, Versioned, expired,
    expires_at, fit, next_version, refund_in, spend_in,
};
use crate::alerting::lifecycle::Incident;
use crate::history::{Closed, History, Record, Rollup};
use crate::pings::{Ping, PingRecord};

/// The most one day's history file of one function may hold (about 4,000 monitors at one check a
/// minute): a laptop's disk is not filled by a runaway.
pub const HISTORY_CAP: u64 = 256 * 1024 * 1024;

/// The layout this lookout writes and reads.
pub const SCHEMA: u32 = 1;

fn first_schema() -> u32 {
    1
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Contents {
    /// The layout's version (files from before it was written are version 1).
    #[serde(default = "first_schema")]
    schema: u32,
    /// Per function: finished tick id -> tick time.
    #[serde(default)]
    ticks: BTreeMap<String, BTreeMap<String, DateTime<Utc>>>,
    /// Per incident key.
    #[serde(default)]
    incidents: BTreeMap<String, Stored>,
    /// Per budget: what was spent, and when the count is forgotten.
    #[serde(default)]
    budgets: BTreeMap<String, Budget>,
    /// Per heartbeat token hash: the monitor's pings.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pings: BTreeMap<String, PingRecord>,
    /// Per agent token hash: the host's program events.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    events: BTreeMap<String, crate::events::HostEvents>,
    /// The ingest's refusals per minute.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    ingest_refusals: super::Refusals,
}

/// One day's roll-ups in the file store.
#[derive(Debug, Default, Serialize, Deserialize)]
struct DayRollups {
    /// The functions whose day is rolled up.
    functions: Vec<String>,
    /// Per monitor key.
    monitors: BTreeMap<String, Rollup>,
}

/// The text of a history file; `None` when it is not there yet.
fn read_if_there(path: &Path) -> Result<Option<String>, StoreError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::Unavailable(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    version: u64,
    incident: Incident,
}

/// State in one JSON file, shared safely by processes on one machine.
pub struct FileStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writes: AtomicU64,
    history_writes: AtomicU64,
    temporaries: AtomicU64,
}

impl FileStore {
    /// A store at `path` (created with its folder on first write).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileStore {
            inner: Arc::new(Inner {
                path: path.into(),
                writes: AtomicU64::new(0),
                history_writes: AtomicU64::new(0),
                temporaries: AtomicU64::new(0),
            }),
        }
    }

    /// Where the state is kept.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// How many times this store has written the file.
    pub fn writes(&self) -> u64 {
        self.inner.writes.load(Ordering::SeqCst)
    }

    /// How many ticks' records this store has appended to the history.
    pub fn history_writes(&self) -> u64 {
        self.inner.history_writes.load(Ordering::SeqCst)
    }

    /// Runs `work` on the file's contents under the lock, off the async threads; writes the
    /// contents back when `work` says they changed.
    async fn locked<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Contents) -> (T, bool) + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let _lock = inner.lock()?;
            let mut contents = inner.read()?;
            let (value, changed) = work(&mut contents);
            if changed {
                inner.write(&contents)?;
            }
            Ok(value)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("the state file's worker stopped: {e}")))?
    }
}

impl Inner {
    /// The folder of the history, beside the state file.
    fn history_folder(&self) -> PathBuf {
        self.side_path(".history")
    }

    /// The history file of `function` on `day`.
    fn history_file(&self, function: &str, day: NaiveDate) -> PathBuf {
        let safe: String = function
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.history_folder()
            .join(format!("{safe}-{}.log", day.format("%Y-%m-%d")))
    }

    /// Appends `text` to the history file of `function` on `day`, under the folder's lock.
    fn append_history(&self, function: &str, day: NaiveDate, text: &str) -> Result<(), StoreError> {
        let _lock = self.history_lock()?;
        let path = self.history_file(function, day);
        let unavailable = |what: &str, e: std::io::Error| {
            StoreError::Unavailable(format!("cannot {what} {}: {e}", path.display()))
        };
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if size + text.len() as u64 > HISTORY_CAP {
            return Err(StoreError::Unavailable(format!(
                "{} is at its cap of {} MiB: this tick's history is not kept",
                path.display(),
                HISTORY_CAP / 1024 / 1024
            )));
        }
        let mut file = File::options()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| unavailable("open", e))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.flush())
            .map_err(|e| unavailable("append to", e))?;
        self.history_writes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// The roll-ups of `day`: `<file>.history/rollups-<day>.json`.
    fn rollup_file(&self, day: NaiveDate) -> PathBuf {
        self.history_folder()
            .join(format!("rollups-{}.json", day.format("%Y-%m-%d")))
    }

    fn read_rollups(&self, day: NaiveDate) -> Result<DayRollups, StoreError> {
        let path = self.rollup_file(day);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                StoreError::Corrupt(format!(
                    "{} is not lookout's roll-ups ({e})",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DayRollups::default()),
            Err(e) => Err(StoreError::Unavailable(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }

    /// Adds `function`'s roll-ups of `day` to the day's file, under the history's lock.
    fn write_rollups(
        &self,
        function: &str,
        day: NaiveDate,
        rollups: &[Rollup],
    ) -> Result<(), StoreError> {
        let _lock = self.history_lock()?;
        let mut all = self.read_rollups(day)?;
        for rollup in rollups {
            all.monitors.insert(rollup.key.clone(), rollup.clone());
        }
        if !all.functions.iter().any(|f| f == function) {
            all.functions.push(function.to_owned());
        }
        let path = self.rollup_file(day);
        let bytes = serde_json::to_vec(&all)
            .map_err(|e| StoreError::Unavailable(format!("cannot encode roll-ups: {e}")))?;
        let temporary = path.with_extension(format!("{}.tmp", std::process::id()));
        std::fs::write(&temporary, bytes)
            .and_then(|()| std::fs::rename(&temporary, &path))
            .map_err(|e| StoreError::Unavailable(format!("cannot write {}: {e}", path.display())))
    }

    /// The incidents that closed, a JSON line each: `<file>.history/closed.log`.
    fn closed_file(&self) -> PathBuf {
        self.history_folder().join("closed.log")
    }

    fn append_closed(&self, closed: &Closed) -> Result<(), StoreError> {
        let _lock = self.history_lock()?;
        let path = self.closed_file();
        let mut line = serde_json::to_string(closed)
            .map_err(|e| StoreError::Unavailable(format!("cannot encode an incident: {e}")))?;
        line.push('\n');
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if size + line.len() as u64 > HISTORY_CAP {
            return Err(StoreError::Unavailable(format!(
                "{} is at its cap: this incident is not kept",
                path.display()
            )));
        }
        File::options()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut file| file.write_all(line.as_bytes()))
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot append to {}: {e}", path.display()))
            })
    }

    fn read_closed(&self, function: &str, most: usize) -> Result<Vec<Closed>, StoreError> {
        let path = self.closed_file();
        let Some(text) = read_if_there(&path)? else {
            return Ok(Vec::new());
        };
        let mut closed: Vec<Closed> = Vec::new();
        // A line cut short by a crash is passed over.
        for found in text
            .lines()
            .filter_map(|l| serde_json::from_str::<Closed>(l).ok())
        {
            if found.function == function && !closed.contains(&found) {
                closed.push(found);
            }
        }
        closed.sort_by_key(|c| std::cmp::Reverse(c.ended_at));
        closed.truncate(most);
        Ok(closed)
    }

    /// The history folder's lock, held until the returned file is dropped.
    fn history_lock(&self) -> Result<File, StoreError> {
        let folder = self.history_folder();
        let unavailable = |what: &str, e: std::io::Error| {
            StoreError::Unavailable(format!("cannot {what} {}: {e}", folder.display()))
        };
        std::fs::create_dir_all(&folder).map_err(|e| unavailable("create", e))?;
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(folder.join(".lock"))
            .map_err(|e| unavailable("open the lock file of", e))?;
        lock.lock().map_err(|e| unavailable("lock", e))?;
        Ok(lock)
    }

    /// The records in the history file of `function` on `day` as text, those after `after` when
    /// it is given.
    fn read_history(
        &self,
        function: &str,
        day: NaiveDate,
        after: Option<DateTime<Utc>>,
    ) -> Result<Vec<String>, StoreError> {
        let path = self.history_file(function, day);
        let Some(text) = read_if_there(&path)? else {
            return Ok(Vec::new());
        };
        // Each record starts with its header line; a record cut short by a crash is dropped.
        let mut records: Vec<&str> = Vec::new();
        let mut start = None;
        for (at, _) in text.match_indices("h1 ") {
            if at == 0 || text.as_bytes()[at - 1] == b'\n' {
                if let Some(from) = start {
                    records.push(&text[from..at]);
                }
                start = Some(at);
            }
        }
        if let Some(from) = start
            && text.ends_with('\n')
        {
            records.push(&text[from..]);
        }
        // A record whose header does not read is kept, for the reader to report.
        let later = |record: &str| match (after, crate::history::chunk_time(record)) {
            (Some(after), Ok(at)) => at > after,
            _ => true,
        };
        Ok(records
            .into_iter()
            .filter(|r| later(r))
            .map(str::to_owned)
            .collect())
    }

    fn unavailable(&self, what: &str, error: std::io::Error) -> StoreError {
        StoreError::Unavailable(format!("cannot {what} {}: {error}", self.path.display()))
    }

    fn side_path(&self, suffix: &str) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    }

    /// The exclusive lock, held until the returned file is dropped.
    fn lock(&self) -> Result<File, StoreError> {
        if let Some(folder) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(folder)
                .map_err(|e| self.unavailable("create the folder of", e))?;
        }
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.side_path(".lock"))
            .map_err(|e| self.unavailable("open the lock file of", e))?;
        lock.lock().map_err(|e| self.unavailable("lock", e))?;
        Ok(lock)
    }

    fn read(&self) -> Result<Contents, StoreError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Contents::default()),
            Err(e) => return Err(self.unavailable("read", e)),
        };
        let contents: Contents = serde_json::from_slice(&bytes).map_err(|e| {
            StoreError::Corrupt(format!(
                "{} is not lookout state ({e}): move it away to start afresh",
                self.path.display()
            ))
        })?;
        if contents.schema > SCHEMA {
            return Err(StoreError::Corrupt(format!(
                "{} was written by a newer lookout (schema {}; this one reads {SCHEMA}): run that version, or move the file away to start afresh",
                self.path.display(),
                contents.schema
            )));
        }
        Ok(contents)
    }

    fn write(&self, contents: &Contents) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec_pretty(contents)
            .map_err(|e| StoreError::Unavailable(format!("cannot encode the state: {e}")))?;
        let n = self.temporaries.fetch_add(1, Ordering::SeqCst);
        let temporary = self.side_path(&format!(".{}.{n}.tmp", std::process::id()));
        let written = File::create(&temporary)
            .and_then(|mut file| {
                file.write_all(&bytes)?;
                file.sync_all()
            })
            .and_then(|()| std::fs::rename(&temporary, &self.path));
        if let Err(error) = written {
            let _ = std::fs::remove_file(&temporary);
            return Err(self.unavailable("write", error));
        }
        self.writes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[async_trait]
impl Incidents for FileStore {
    async fn tick_finished(&self, function: &str, tick_id: &str) -> Result<bool, StoreError> {
        let (function, tick_id) = (function.to_owned(), tick_id.to_owned());
        self.locked(move |contents| {
            let finished = contents
                .ticks
                .get(&function)
                .is_some_and(|ledger| ledger.contains_key(&tick_id));
            (finished, false)
        })
        .await
    }

    async fn load(&self, function: &str) -> Result<Vec<Versioned>, StoreError> {
        let function = function.to_owned();
        let now = Utc::now();
        self.locked(move |contents| {
            let incidents = contents
                .incidents
                .values()
                .filter(|s| s.incident.function == function)
                .filter(|s| !expired(expires_at(&s.incident), now))
                .map(|s| Versioned {
                    incident: s.incident.clone(),
                    version: s.version,
                })
                .collect();
            (incidents, false)
        })
        .await
    }

    async fn get(&self, function: &str, key: &str) -> Result<Option<Versioned>, StoreError> {
        let (function, key) = (function.to_owned(), key.to_owned());
        let now = Utc::now();
        self.locked(move |contents| {
            let found = contents
                .incidents
                .get(&key)
                .filter(|s| s.incident.function == function)
                .filter(|s| !expired(expires_at(&s.incident), now))
                .map(|s| Versioned {
                    incident: s.incident.clone(),
                    version: s.version,
                });
            (found, false)
        })
        .await
    }

    async fn commit(&self, commit: &Commit<'_>) -> Result<Vec<Option<u64>>, StoreError> {
        let writes: Vec<(Incident, Option<u64>)> = commit
            .writes
            .iter()
            .map(|w| Ok((fit(w.incident)?, w.expected)))
            .collect::<Result<_, StoreError>>()?;
        let function = commit.function.to_owned();
        let finished = commit.finished_tick.map(|(id, at)| (id.to_owned(), at));
        let now = Utc::now();
        self.locked(move |contents| {
            let mut versions = Vec::with_capacity(writes.len());
            let mut changed = false;
            for (incident, expected) in writes {
                let current = contents
                    .incidents
                    .get(&incident.key)
                    .filter(|s| !expired(expires_at(&s.incident), now))
                    .map(|s| s.version);
                let version = next_version(current, expected);
                if let Some(version) = version {
                    contents
                        .incidents
                        .insert(incident.key.clone(), Stored { version, incident });
                    changed = true;
                }
                versions.push(version);
            }
            if let Some((tick_id, time)) = finished {
                let ledger = contents.ticks.entry(function).or_default();
                let horizon = time - Duration::hours(TICK_MEMORY_HOURS);
                ledger.retain(|_, at| *at >= horizon);
                ledger.insert(tick_id, time);
                changed = true;
            }
            if changed {
                contents
                    .incidents
                    .retain(|_, s| !expired(expires_at(&s.incident), now));
                contents.budgets.retain(|_, b| b.expires_at > now);
                contents.schema = SCHEMA;
            }
            (versions, changed)
        })
        .await
    }
}

#[async_trait]
impl Budgets for FileStore {
    async fn spend(
        &self,
        budget: &str,
        limit: u32,
        expires: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let budget = budget.to_owned();
        let now = Utc::now();
        self.locked(move |contents| {
            let spent = spend_in(&mut contents.budgets, &budget, limit, expires, now);
            (spent, spent)
        })
        .await
    }

    async fn refund(&self, budget: &str) -> Result<(), StoreError> {
        let budget = budget.to_owned();
        self.locked(move |contents| ((), refund_in(&mut contents.budgets, &budget)))
            .await
    }
}

#[async_trait]
impl Ledger for FileStore {
    async fn record_ping(
        &self,
        token_hash: &str,
        monitor: &str,
        ping: &Ping,
        min_interval: chrono::Duration,
    ) -> Result<bool, StoreError> {
        let (hash, monitor, ping) = (token_hash.to_owned(), monitor.to_owned(), ping.clone());
        self.locked(move |contents| {
            let previous = contents.pings.get(&hash);
            if previous.is_some_and(|p| !p.takes(&ping, min_interval)) {
                return (false, false);
            }
            let record = PingRecord::after(previous, &monitor, &ping);
            contents.pings.insert(hash, record);
            (true, true)
        })
        .await
    }

    async fn pings(
        &self,
        token_hashes: &[String],
    ) -> Result<std::collections::HashMap<String, PingRecord>, StoreError> {
        let hashes = token_hashes.to_vec();
        self.locked(move |contents| {
            let found = hashes
                .into_iter()
                .filter_map(|h| {
                    let record = contents.pings.get(&h)?.clone();
                    Some((h, record))
                })
                .collect();
            (found, false)
        })
        .await
    }

    async fn record_event(
        &self,
        token_hash: &str,
        event: &crate::events::ProcessEvent,
        expires: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (hash, event) = (token_hash.to_owned(), event.clone());
        self.locked(move |contents| {
            let host = contents.events.entry(hash).or_default();
            let kept = crate::events::keep_in(host, &event, expires, Utc::now());
            (kept, kept)
        })
        .await
    }

    async fn events(
        &self,
        token_hash: &str,
    ) -> Result<Vec<crate::events::ProcessEvent>, StoreError> {
        let hash = token_hash.to_owned();
        self.locked(move |contents| {
            (
                crate::events::live_in(contents.events.get(&hash), Utc::now()),
                false,
            )
        })
        .await
    }

    async fn record_ingest_refusal(&self, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.locked(move |contents| {
            super::refuse_in(&mut contents.ingest_refusals, at, Utc::now());
            ((), true)
        })
        .await
    }

    async fn ingest_refusals(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, u64)>, StoreError> {
        self.locked(move |contents| {
            (
                super::refusals_since(&contents.ingest_refusals, since),
                false,
            )
        })
        .await
    }
}

impl FileStore {
    /// Runs `work` on the history's files off the async threads.
    async fn history<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Inner) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || work(&inner))
            .await
            .map_err(|e| StoreError::Unavailable(format!("the history's worker stopped: {e}")))?
    }
}

#[async_trait]
impl History for FileStore {
    async fn append(&self, record: &Record) -> Result<(), StoreError> {
        let (function, day, text) = (record.function.clone(), record.day(), record.text());
        self.history(move |inner| inner.append_history(&function, day, &text))
            .await
    }

    async fn day_chunks(
        &self,
        function: &str,
        day: NaiveDate,
        after: Option<DateTime<Utc>>,
    ) -> Result<Vec<String>, StoreError> {
        let function = function.to_owned();
        self.history(move |inner| inner.read_history(&function, day, after))
            .await
    }

    async fn put_rollups(
        &self,
        function: &str,
        day: NaiveDate,
        rollups: &[Rollup],
    ) -> Result<(), StoreError> {
        let (function, rollups) = (function.to_owned(), rollups.to_vec());
        self.history(move |inner| inner.write_rollups(&function, day, &rollups))
            .await
    }

    async fn record_closed(&self, closed: &Closed) -> Result<(), StoreError> {
        let closed = closed.clone();
        self.history(move |inner| inner.append_closed(&closed))
            .await
    }

    async fn closed(&self, function: &str, most: usize) -> Result<Vec<Closed>, StoreError> {
        let function = function.to_owned();
        self.history(move |inner| inner.read_closed(&function, most))
            .await
    }

    async fn rolled_up(&self, function: &str, day: NaiveDate) -> Result<bool, StoreError> {
        let function = function.to_owned();
        self.history(move |inner| Ok(inner.read_rollups(day)?.functions.contains(&function)))
            .await
    }

    async fn rollups(
        &self,
        keys: &[String],
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<Rollup>, StoreError> {
        let keys = keys.to_vec();
        self.history(move |inner| {
            let mut days = Vec::new();
            let mut day = from;
            while day <= to {
                days.push(inner.read_rollups(day)?);
                day = day.succ_opt().unwrap_or(to + Duration::days(1));
            }
            Ok(keys
                .iter()
                .flat_map(|key| days.iter().filter_map(|d| d.monitors.get(key).cloned()))
                .collect())
        })
        .await
    }
}
