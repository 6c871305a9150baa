//! One tick of a function, end to end, as stages in order: admit (a finished tick is a duplicate),
//! recall the state, check (by the deadline), decide, claim what will be sent (written down
//! first), deliver, settle (record what arrived; the tick is finished once nothing is owed), report.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use crate::alerting::lifecycle::{self, Incident, Moment, Notice, Settlement};
use crate::alerting::policy::Policy;
use crate::alerting::state::{Commit, StateStore, Versioned, Write};
use crate::alerting::{Alert, AlertNote, Digest};
use crate::checks::{Check, Memory};
use crate::notify::{self, DeliveryOutcome, Notifier};
use crate::report::{IncidentSummary, Report, Summary};
use crate::retry::Backoff;
use crate::tick::Tick;

/// The most of an invocation's time kept for claiming, delivering and recording after the checks.
const DELIVERY_RESERVE: Duration = Duration::from_secs(15);
/// Times a settlement is written again after another invocation changed the incident meanwhile.
const SETTLE_ATTEMPTS: usize = 3;

/// The invocation a tick runs in: its request id and its deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// Lambda's request id (kept when Lambda retries the same event).
    pub request_id: String,
    /// When the answer must be sent.
    pub deadline: Instant,
    /// The same deadline by the wall clock: the lease on what this invocation claims.
    pub lease_until: DateTime<Utc>,
}

impl Invocation {
    /// An invocation with `left` until its deadline.
    pub fn new(request_id: impl Into<String>, left: Duration) -> Self {
        Invocation {
            request_id: request_id.into(),
            deadline: Instant::now() + left,
            lease_until: Utc::now()
                + chrono::Duration::from_std(left).unwrap_or(chrono::Duration::MAX),
        }
    }

    /// When the checks must be done: the deadline less what delivering needs (a third of the
    /// time left, at most [`DELIVERY_RESERVE`]).
    pub fn checks_deadline(&self) -> Instant {
        let left = self.deadline.saturating_duration_since(Instant::now());
        self.deadline - (left / 3).min(DELIVERY_RESERVE)
    }
}

/// A check, its channels, its state and its policy.
pub struct Monitor {
    check: Box<dyn Check>,
    notifiers: Vec<Box<dyn Notifier>>,
    store: Arc<dyn StateStore>,
    policy: Policy,
    backoff: Backoff,
}

/// One incident key's part in a tick.
struct Entry {
    incident: Incident,
    /// The version it was read or last written at.
    version: Option<u64>,
    /// Notices this invocation sends, per channel.
    notices: Vec<(&'static str, Notice, Option<AlertNote>)>,
    /// Not yet written since it changed.
    dirty: bool,
}

/// Why the store failed, kept once per tick.
#[derive(Default)]
struct StateTrouble(Option<String>);

impl StateTrouble {
    fn note(&mut self, error: &dyn std::fmt::Display) {
        tracing::error!(%error, "state store failed: alerting without memory of earlier ticks");
        self.0.get_or_insert_with(|| error.to_string());
    }

    fn any(&self) -> bool {
        self.0.is_some()
    }
}

/// True when two states differ in more than the tick that last touched them.
fn differs(before: &Incident, after: &Incident) -> bool {
    let mut comparable = after.clone();
    comparable.updated_at = before.updated_at;
    comparable.last_tick.clone_from(&before.last_tick);
    &comparable != before
}

impl Monitor {
    /// A monitor from its parts, retrying deliveries with the default backoff.
    pub fn new(
        check: Box<dyn Check>,
        notifiers: Vec<Box<dyn Notifier>>,
        store: Box<dyn StateStore>,
        policy: Policy,
    ) -> Self {
        Self::sharing(check, notifiers, Arc::from(store), policy)
    }

    /// A monitor whose store is shared (with a channel's budget, say).
    pub fn sharing(
        check: Box<dyn Check>,
        notifiers: Vec<Box<dyn Notifier>>,
        store: Arc<dyn StateStore>,
        policy: Policy,
    ) -> Self {
        Monitor {
            check,
            notifiers,
            store,
            policy,
            backoff: Backoff::default(),
        }
    }

    /// The same monitor with another delivery backoff.
    pub fn with_backoff(self, backoff: Backoff) -> Self {
        Monitor { backoff, ..self }
    }

    /// What a local run prints besides the report.
    pub fn local_summary(&self, report: &Report) -> Option<String> {
        self.check.local_summary(&report.results)
    }

    /// Runs one tick within `invocation`.
    pub async fn tick(&self, tick: Tick, invocation: &Invocation) -> Report {
        let function = self.check.function();
        let channels: Vec<&'static str> = self.notifiers.iter().map(|n| n.channel()).collect();
        let mut trouble = StateTrouble::default();

        // Admit: a finished tick (a redelivered event) changes nothing and sends nothing.
        match self.store.tick_finished(function, &tick.id).await {
            Ok(true) => {
                tracing::info!(tick_id = %tick.id, "tick already finished: nothing changes, nothing is sent");
                return Report::new(function, tick, Vec::new(), true);
            }
            Ok(false) => {}
            Err(error) => trouble.note(&error),
        }

        // Recall.
        let previous: HashMap<String, Versioned> = match self.store.load(function).await {
            Ok(stored) => stored
                .into_iter()
                .map(|v| (v.incident.key.clone(), v))
                .collect(),
            Err(error) => {
                trouble.note(&error);
                HashMap::new()
            }
        };
        let remembering = !trouble.any();
        let memory: Memory = previous
            .iter()
            .filter_map(|(key, v)| Some((key.clone(), v.incident.memory.clone()?)))
            .collect();

        // Check, by the deadline. What upstreams said is scrubbed of secrets before it can reach
        // a message, a report or a log.
        let mut results = self
            .check
            .run(&tick, &memory, invocation.checks_deadline())
            .await;
        for failure in results.iter_mut().filter_map(|r| r.failure.as_mut()) {
            if let std::borrow::Cow::Owned(clean) = crate::redact::scrub(&failure.message) {
                failure.message = clean;
            }
        }

        // Decide: every result, and every kept incident whose target is no longer watched.
        let moment = Moment {
            tick_id: tick.id.clone(),
            time: tick.time,
            invocation: invocation.request_id.clone(),
            clock: Utc::now(),
        };
        let mut entries = self.decide(function, &results, &previous, &moment, &channels);

        // Claim: what will be sent is written down first, in flight under this invocation's lease.
        if remembering && entries.iter().any(|e| !e.notices.is_empty()) {
            for entry in entries.iter_mut() {
                for (channel, notice, note) in &entry.notices {
                    lifecycle::claim(
                        &mut entry.incident,
                        channel,
                        notice,
                        *note,
                        &invocation.request_id,
                        invocation.lease_until,
                    );
                }
            }
            for index in self.write(function, &mut entries, None, &mut trouble).await {
                let entry = &mut entries[index];
                tracing::warn!(key = %entry.incident.key, "another invocation changed this incident first: its notices are left to it");
                entry.notices.clear();
            }
        }

        // Deliver: one digest per channel.
        let (digests, alerts) = digests(function, tick.time, &entries);
        let deliveries = if digests.is_empty() {
            Vec::new()
        } else {
            notify::fan_out(
                &self.notifiers,
                |c| digests.get(c),
                self.backoff,
                invocation.deadline,
            )
            .await
        };

        // Settle: record what arrived; what did not is owed. The tick is finished when nothing
        // of it is left to retry.
        let outcome = |channel: &str| match deliveries
            .iter()
            .find(|d| d.channel == channel)
            .map(|d| d.outcome)
        {
            Some(DeliveryOutcome::Delivered) => Settlement::Delivered,
            Some(DeliveryOutcome::Dropped) => Settlement::Dropped,
            _ => Settlement::Failed,
        };
        let settlements: Vec<Vec<(&'static str, Notice, Settlement)>> = entries
            .iter()
            .map(|entry| {
                entry
                    .notices
                    .iter()
                    .map(|(channel, notice, _)| (*channel, notice.clone(), outcome(channel)))
                    .collect()
            })
            .collect();
        for (entry, settled) in entries.iter_mut().zip(&settlements) {
            for (channel, notice, settlement) in settled {
                lifecycle::settle(
                    &mut entry.incident,
                    channel,
                    notice,
                    &invocation.request_id,
                    *settlement,
                );
                entry.dirty = true;
            }
        }
        let finished = remembering
            && !trouble.any()
            && deliveries
                .iter()
                .all(|d| d.outcome != DeliveryOutcome::Failed);
        if remembering {
            let finish = finished.then_some((tick.id.as_str(), tick.time));
            let conflicts = self
                .write(function, &mut entries, finish, &mut trouble)
                .await;
            for index in conflicts {
                self.settle_again(
                    function,
                    &entries[index],
                    &settlements[index],
                    invocation,
                    &mut trouble,
                )
                .await;
            }
        }

        // Report.
        let mut report = Report::new(function, tick, results, false);
        report.incidents = entries
            .iter()
            .filter(|e| e.incident.status != lifecycle::Status::Ok)
            .map(|e| IncidentSummary::of(&e.incident, report.tick.time))
            .collect();
        report.alerts = alerts;
        report.deliveries = deliveries;
        report.state_error = trouble.0;
        report.summary = Summary::of(&report);
        report
    }

    /// The lifecycle's decision for every result and every retired incident.
    fn decide(
        &self,
        function: &'static str,
        results: &[crate::checks::CheckResult],
        previous: &HashMap<String, Versioned>,
        moment: &Moment,
        channels: &[&'static str],
    ) -> Vec<Entry> {
        let entry = |before: Option<&Versioned>, decision: lifecycle::Decision| {
            let dirty = before.map_or(!decision.incident.is_idle(), |b| {
                differs(&b.incident, &decision.incident)
            });
            let notices = decision
                .notices
                .into_iter()
                .filter_map(|(channel, notice, note)| {
                    let channel = channels.iter().find(|c| **c == channel)?;
                    Some((*channel, notice, note))
                })
                .collect();
            Entry {
                incident: decision.incident,
                version: before.map(|v| v.version),
                notices,
                dirty,
            }
        };
        let observed: HashSet<&str> = results.iter().map(|r| r.key.as_str()).collect();
        let mut entries: Vec<Entry> = results
            .iter()
            .map(|result| {
                let before = previous.get(&result.key);
                let decision = lifecycle::observe(
                    before.map(|v| &v.incident),
                    result,
                    function,
                    moment,
                    &self.policy,
                    channels,
                );
                entry(before, decision)
            })
            .collect();
        let mut retired: Vec<&Versioned> = previous
            .values()
            .filter(|v| !observed.contains(v.incident.key.as_str()))
            .filter(|v| !v.incident.is_settled())
            .filter(|v| self.check.retired(&v.incident.key, results))
            .collect();
        retired.sort_by(|a, b| a.incident.key.cmp(&b.incident.key));
        for before in retired {
            tracing::info!(key = %before.incident.key, "no longer watched: closing its incident");
            let decision = lifecycle::retire(&before.incident, moment, &self.policy, channels);
            entries.push(entry(Some(before), decision));
        }
        entries
    }

    /// Writes every changed entry (and the finished tick) in one commit. An entry another
    /// invocation changed first loses its notices (the other invocation sends them); returns the
    /// indexes of such entries.
    async fn write(
        &self,
        function: &'static str,
        entries: &mut [Entry],
        finished_tick: Option<(&str, DateTime<Utc>)>,
        trouble: &mut StateTrouble,
    ) -> Vec<usize> {
        let indexes: Vec<usize> = (0..entries.len()).filter(|i| entries[*i].dirty).collect();
        if indexes.is_empty() && finished_tick.is_none() {
            return Vec::new();
        }
        let commit = Commit {
            function,
            writes: indexes
                .iter()
                .map(|i| Write {
                    incident: &entries[*i].incident,
                    expected: entries[*i].version,
                })
                .collect(),
            finished_tick,
        };
        let versions = match self.store.commit(&commit).await {
            Ok(versions) => versions,
            Err(error) => {
                trouble.note(&error);
                return Vec::new();
            }
        };
        let mut conflicts = Vec::new();
        for (index, version) in indexes.into_iter().zip(versions) {
            let entry = &mut entries[index];
            match version {
                Some(version) => {
                    entry.version = Some(version);
                    entry.dirty = false;
                }
                None => {
                    conflicts.push(index);
                    entry.dirty = false;
                }
            }
        }
        conflicts
    }

    /// Records the settlement of an entry again on its current state, after another invocation
    /// changed the incident while this one was sending.
    async fn settle_again(
        &self,
        function: &'static str,
        entry: &Entry,
        settled: &[(&'static str, Notice, Settlement)],
        invocation: &Invocation,
        trouble: &mut StateTrouble,
    ) {
        let key = &entry.incident.key;
        for _ in 0..SETTLE_ATTEMPTS {
            let current = match self.store.get(function, key).await {
                Ok(Some(current)) => current,
                Ok(None) => return,
                Err(error) => return trouble.note(&error),
            };
            let mut incident = current.incident;
            for (channel, notice, settlement) in settled {
                lifecycle::settle(
                    &mut incident,
                    channel,
                    notice,
                    &invocation.request_id,
                    *settlement,
                );
            }
            let commit = Commit {
                function,
                writes: vec![Write {
                    incident: &incident,
                    expected: Some(current.version),
                }],
                finished_tick: None,
            };
            match self.store.commit(&commit).await {
                Ok(versions) if versions.first().copied().flatten().is_some() => return,
                Ok(_) => continue,
                Err(error) => return trouble.note(&error),
            }
        }
        tracing::warn!(key = %key, "the incident kept changing while its notices were recorded: they may be sent again once the lease ends");
    }
}

/// One digest per channel, and each alert once with the channels it went to.
fn digests(
    function: &'static str,
    time: DateTime<Utc>,
    entries: &[Entry],
) -> (BTreeMap<&'static str, Digest>, Vec<Alert>) {
    let mut digests: BTreeMap<&'static str, Digest> = BTreeMap::new();
    let mut alerts: Vec<Alert> = Vec::new();
    for entry in entries {
        for (channel, notice, note) in &entry.notices {
            let alert = entry.incident.alert(function, notice, *note);
            digests
                .entry(channel)
                .or_insert_with(|| Digest {
                    function,
                    time,
                    alerts: Vec::new(),
                })
                .alerts
                .push(alert.clone());
            let same = |a: &&mut Alert| {
                Alert {
                    channels: Vec::new(),
                    ..(*a).clone()
                } == alert
            };
            match alerts.iter_mut().find(same) {
                Some(same) => same.channels.push(channel),
                None => alerts.push(Alert {
                    channels: vec![channel],
                    ..alert
                }),
            }
        }
    }
    (digests, alerts)
}
