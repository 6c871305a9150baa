//! One tick of a function, end to end, as stages in order: admit (a finished tick is a duplicate),
//! recall the state, check (by the deadline), decide, claim what will be sent (written down
//! first), deliver, settle (record what arrived; the tick is finished once nothing is owed), report.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::join_all;
use tokio::time::Instant;

use crate::alerting::answers::{Links, Signer};
use crate::alerting::lifecycle::{self, Incident, Moment, Notice, Settlement};
use crate::alerting::outage::{self, OutageGuard};
use crate::alerting::policy::Policy;
use crate::alerting::state::{Commit, StateStore, Versioned, Write};
use crate::alerting::{Alert, AlertNote, Digest, Shown};
use crate::checks::confirm::{Confirmation, Confirmer};
use crate::checks::{Check, CheckResult, Health, Memory};
use crate::history::Closed;
use crate::notify::{self, Channel, Delivery, DeliveryOutcome, Notifier};
use crate::report::{IncidentSummary, Report, Summary};
use crate::retry::Backoff;
use crate::tick::Tick;

/// The most of an invocation's time kept for claiming, delivering and recording after the checks.
const DELIVERY_RESERVE: Duration = Duration::from_secs(15);
/// Times a settlement is written again after another invocation changed the incident meanwhile.
const SETTLE_ATTEMPTS: usize = 3;

/// How many days back a function's first tick of a day rolls up any day not yet rolled up: a
/// function that stopped for days catches up when it runs again (seven reads, once a day).
const ROLL_UP_DAYS_BACK: i64 = 7;
/// What the daily roll-up leaves of the invocation's time, for the answer to go out.
const ROLL_UP_MARGIN: Duration = Duration::from_secs(2);
/// Runs of monitors that each hold a connection (tcp, dns) in flight at once: with the site checks'
/// `SITE_CONCURRENCY` (256 by default) well under Lambda's 1,024 descriptors.
pub const CONNECTION_SLOTS: usize = 256;
/// The longest the canary is waited for.
const CANARY_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest confirmations from elsewhere are waited for (Globalping's measurements take a few
/// seconds).
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(20);

/// The invocation a tick runs in: its request id and its deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// Lambda's request id (kept when Lambda retries the same event).
    pub request_id: String,
    /// When the answer must be sent.
    pub deadline: Instant,
    /// The same deadline by the wall clock: the lease on what this invocation claims.
    pub lease_until: DateTime<Utc>,
    /// Started by a person (a local run): every monitor is checked, whatever its `every`.
    pub by_hand: bool,
}

impl Invocation {
    /// An invocation with `left` until its deadline.
    pub fn new(request_id: impl Into<String>, left: Duration) -> Self {
        Invocation {
            request_id: request_id.into(),
            deadline: Instant::now() + left,
            lease_until: Utc::now()
                + chrono::Duration::from_std(left).unwrap_or(chrono::Duration::MAX),
            by_hand: false,
        }
    }

    /// The same invocation, started by a person.
    pub fn by_hand(self) -> Self {
        Invocation {
            by_hand: true,
            ..self
        }
    }

    /// When the checks must be done: the deadline less what delivering needs (a third of the
    /// time left, at most [`DELIVERY_RESERVE`]).
    pub fn checks_deadline(&self) -> Instant {
        let left = self.deadline.saturating_duration_since(Instant::now());
        self.deadline - (left / 3).min(DELIVERY_RESERVE)
    }
}

pub use crate::alerting::Watch;

/// A function's monitors, its channels, its state and its policy.
pub struct Monitor {
    function: &'static str,
    watches: Vec<Watch>,
    channels: Vec<Channel>,
    store: Arc<dyn StateStore>,
    /// For an incident whose monitor left the configuration.
    policy: Policy,
    backoff: Backoff,
    /// The last day this instance knows is rolled up.
    rolled_up: std::sync::Mutex<Option<chrono::NaiveDate>>,
    /// Signs the answer links (acknowledge, silence) a failing incident's notices carry.
    answers: Option<Signer>,
    /// Tells lookout's own outage from its targets'.
    outage: OutageGuard,
    /// Confirms failures from elsewhere (monitors with `confirm`).
    confirmer: Option<Confirmer>,
}

/// One incident key's part in a tick.
struct Entry {
    incident: Incident,
    /// The version it was read or last written at.
    version: Option<u64>,
    /// Notices this invocation sends, per channel.
    notices: Vec<(String, Notice, Option<AlertNote>)>,
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

/// What the checks found this tick, per watch (in the watches' order): whether it was due, and
/// its results.
struct Checked {
    due: Vec<bool>,
    results: Vec<Vec<CheckResult>>,
}

/// What a tick sends: one digest per channel, and each alert once with its channels (for the
/// report).
#[derive(Debug, Default)]
struct Outbox {
    digests: BTreeMap<String, Digest>,
    alerts: Vec<Alert>,
}

/// True when two states differ in more than the tick that last touched them.
fn differs(before: &Incident, after: &Incident) -> bool {
    let mut comparable = after.clone();
    comparable.updated_at = before.updated_at;
    comparable.last_tick.clone_from(&before.last_tick);
    &comparable != before
}

impl Monitor {
    /// A monitor of one check from its parts, every channel hearing of it, retrying deliveries with
    /// the default backoff.
    pub fn new(
        check: Box<dyn Check>,
        notifiers: Vec<Box<dyn Notifier>>,
        store: Box<dyn StateStore>,
        policy: Policy,
    ) -> Self {
        Self::sharing(check, notifiers, Arc::from(store), policy)
    }

    /// The same, with a store that is shared (with a channel's budget, say).
    pub fn sharing(
        check: Box<dyn Check>,
        notifiers: Vec<Box<dyn Notifier>>,
        store: Arc<dyn StateStore>,
        policy: Policy,
    ) -> Self {
        let channels: Vec<Channel> = notifiers.into_iter().map(Channel::from).collect();
        let watch = Watch {
            channels: channels.iter().map(|c| c.name.clone()).collect(),
            check,
            policy: policy.clone(),
            every: None,
            shown: Shown::default(),
        };
        Self::watching(watch.check.function(), vec![watch], channels, store, policy)
    }

    /// A function's monitors, each with its own channels and policy. `policy` closes the incidents
    /// of monitors that left the configuration.
    pub fn watching(
        function: &'static str,
        watches: Vec<Watch>,
        channels: Vec<Channel>,
        store: Arc<dyn StateStore>,
        policy: Policy,
    ) -> Self {
        Monitor {
            function,
            watches,
            channels,
            store,
            policy,
            backoff: Backoff::default(),
            rolled_up: std::sync::Mutex::new(None),
            answers: None,
            outage: OutageGuard::default(),
            confirmer: None,
        }
    }

    /// The same monitor, confirming failures from elsewhere with `confirmer`.
    pub fn with_confirmer(self, confirmer: Option<Confirmer>) -> Self {
        Monitor { confirmer, ..self }
    }

    /// The same monitor, telling its own outage from its targets' as `guard` says.
    pub fn with_outage_guard(self, guard: OutageGuard) -> Self {
        Monitor {
            outage: guard,
            ..self
        }
    }

    /// The same monitor, its failing notices carrying answer links signed by `signer`.
    pub fn with_answers(self, signer: Option<Signer>) -> Self {
        Monitor {
            answers: signer,
            ..self
        }
    }

    /// The same monitor with another delivery backoff.
    pub fn with_backoff(self, backoff: Backoff) -> Self {
        Monitor { backoff, ..self }
    }

    /// What a local run prints besides the report.
    pub fn local_summary(&self, report: &Report) -> Option<String> {
        let summaries: Vec<String> = self
            .watches
            .iter()
            .filter_map(|watch| {
                let naming = watch.check.naming();
                let own: Vec<CheckResult> = report
                    .results
                    .iter()
                    .filter(|r| naming.owns(&r.key))
                    .cloned()
                    .collect();
                if own.is_empty() {
                    return None;
                }
                watch.check.local_summary(&own)
            })
            .collect();
        (!summaries.is_empty()).then(|| summaries.join("\n"))
    }

    /// Runs one tick within `invocation`: the stages in order.
    pub async fn tick(&self, tick: Tick, invocation: &Invocation) -> Report {
        let function = self.function;
        let mut trouble = StateTrouble::default();
        if self.admit(&tick, &mut trouble).await {
            tracing::info!(tick_id = %tick.id, "tick already finished: nothing changes, nothing is sent");
            return Report::new(function, tick, Vec::new(), true);
        }
        let previous = self.recall(&mut trouble).await;
        let remembering = !trouble.any();
        let mut checked = self.check(&tick, &previous, invocation).await;
        let own = self.guard(&mut checked, &previous, invocation).await;
        let confirmations = self
            .confirm(&tick, &mut checked, &previous, invocation)
            .await;
        let moment = Moment {
            tick_id: tick.id.clone(),
            time: tick.time,
            invocation: invocation.request_id.clone(),
            clock: Utc::now(),
        };
        let channels: Vec<&str> = self.channels.iter().map(|c| c.name.as_str()).collect();
        let mut entries = decide(
            &self.watches,
            &checked,
            own.as_ref(),
            &previous,
            &moment,
            &self.policy,
            &channels,
        );
        remember(&mut entries, confirmations);
        if remembering {
            self.claim(&mut entries, invocation, &mut trouble).await;
        }
        let links = self.answers.as_ref().map(|signer| (signer, moment.clock));
        let outbox = outbox(function, tick.time, &entries, links);
        let metered: std::collections::HashSet<String> = self
            .watches
            .iter()
            .zip(&checked.results)
            .filter(|(watch, _)| watch.shown.metrics)
            .flat_map(|(_, results)| results.iter().map(|r| r.key.clone()))
            .collect();
        let results: Vec<CheckResult> = checked.results.into_iter().flatten().chain(own).collect();
        let closed = closed_now(&entries, &previous, tick.time);
        // The history is kept while the alerts go out: neither waits for the other.
        let alerts = async {
            let deliveries = self.deliver(&outbox, invocation).await;
            if remembering {
                self.settle(&tick, &mut entries, &deliveries, invocation, &mut trouble)
                    .await;
            }
            deliveries
        };
        let recorded = self.record(&tick, &results, &closed, invocation.deadline);
        let (deliveries, ()) = tokio::join!(alerts, recorded);

        // Report.
        let mut report = Report::new(function, tick, results, false);
        report.incidents = entries
            .iter()
            .filter(|e| e.incident.status != lifecycle::Status::Ok)
            .map(|e| IncidentSummary::of(&e.incident, report.tick.time))
            .collect();
        report.alerts = outbox.alerts;
        report.deliveries = deliveries;
        report.state_error = trouble.0;
        report.metered = metered;
        report.summary = Summary::of(&report);
        report
    }

    /// Record: the tick's results in the history, one write whatever their number. A history
    /// that cannot be written is said in the log; it never holds the alerts back.
    async fn record(
        &self,
        tick: &Tick,
        results: &[CheckResult],
        closed: &[Closed],
        deadline: Instant,
    ) {
        for incident in closed {
            if let Err(error) = self.store.record_closed(incident).await {
                tracing::warn!(%error, key = %incident.key, "a closed incident could not be kept");
            }
        }
        if results.is_empty() {
            return;
        }
        let record = crate::history::Record {
            function: self.function.to_owned(),
            at: tick.time,
            entries: results.iter().map(CheckResult::history_entry).collect(),
        };
        if let Err(error) = self.store.append(&record).await {
            tracing::warn!(%error, "this tick's history could not be kept");
        }
        // The roll-up gives way to the invocation's deadline: a day too large to roll up in what
        // is left (from about 12,000 monitors a minute at 128 MB) is not tried again on every
        // tick of this instance; the next day's first tick catches up on it.
        let left = deadline
            .saturating_duration_since(Instant::now())
            .saturating_sub(ROLL_UP_MARGIN);
        match tokio::time::timeout(left, self.roll_up(tick)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "yesterday's history could not be rolled up"),
            Err(_) => {
                tracing::warn!(
                    "yesterday's history could not be rolled up before the invocation's deadline: the next day's first tick catches up on it (a larger MemorySize gives the function more CPU)"
                );
                *self.rolled_up.lock().unwrap_or_else(|e| e.into_inner()) =
                    tick.time.date_naive().pred_opt();
            }
        }
    }

    /// Roll up: the first tick of a day derives each monitor's roll-up of the day before from
    /// its history, once (a later tick, or another instance, finds the day rolled up).
    async fn roll_up(&self, tick: &Tick) -> Result<(), crate::ledger::StoreError> {
        let Some(yesterday) = tick.time.date_naive().pred_opt() else {
            return Ok(());
        };
        if *self.rolled_up.lock().unwrap_or_else(|e| e.into_inner()) == Some(yesterday) {
            return Ok(());
        }
        // Oldest first, so a day is only marked done once the days before it are.
        for back in (0..ROLL_UP_DAYS_BACK).rev() {
            let day = yesterday - chrono::Duration::days(back);
            if !self.store.rolled_up(self.function, day).await? {
                let mut tally = crate::history::DayTally::new(day);
                self.store
                    .each_day_chunk(self.function, day, &mut |chunk| tally.add(chunk))
                    .await?;
                self.store
                    .put_rollups(self.function, day, &tally.rollups())
                    .await?;
            }
        }
        *self.rolled_up.lock().unwrap_or_else(|e| e.into_inner()) = Some(yesterday);
        Ok(())
    }

    /// Guard: when most targets fail as an unreachable network does and the canary (when set)
    /// fails too, the fault is lookout's own: those results are not judged this tick, and one
    /// result stands for lookout's network (a monitor error). While an incident of lookout's own
    /// network is open, that result is given on every tick, passing when the network is back.
    async fn guard(
        &self,
        checked: &mut Checked,
        previous: &HashMap<String, Versioned>,
        invocation: &Invocation,
    ) -> Option<CheckResult> {
        let key = outage::key(self.function);
        let outage = match self.outage.suspect(checked.results.iter().flatten()) {
            None => None,
            Some(suspicion) => match &self.outage.canary {
                None => Some((suspicion, false)),
                Some(canary) => self
                    .canary_fails(canary, invocation)
                    .await
                    .then_some((suspicion, true)),
            },
        };
        match outage {
            Some((suspicion, canary)) => {
                tracing::warn!(
                    failed = suspicion.failed,
                    of = suspicion.of,
                    canary,
                    "most targets are unreachable at once: lookout's own outage, not theirs"
                );
                for result in checked.results.iter_mut().flatten() {
                    if outage::is_unreachable(result) {
                        result.health = Health::Suppressed;
                    }
                }
                Some(outage::result(self.function, Some((&suspicion, canary))))
            }
            None => previous
                .get(&key)
                .filter(|v| !v.incident.is_settled())
                .map(|_| outage::result(self.function, None)),
        }
    }

    /// True when the canary cannot be reached, or answers a 5xx, within five seconds (less when
    /// the checks' deadline is nearer).
    async fn canary_fails(&self, canary: &url::Url, invocation: &Invocation) -> bool {
        let left = invocation
            .checks_deadline()
            .saturating_duration_since(Instant::now())
            .min(CANARY_TIMEOUT);
        let client = match reqwest::Client::builder().timeout(left).build() {
            Ok(client) => client,
            Err(_) => return false,
        };
        match client.get(canary.as_str()).send().await {
            Ok(answer) => answer.status().is_server_error(),
            Err(_) => true,
        }
    }

    /// Confirm: each failing result of a monitor with `confirm`, failing the way one vantage point
    /// can make it fail, is measured from elsewhere, all at once, by the checks' deadline (at most
    /// [`CONFIRM_TIMEOUT`]), unless a confirmation of its incident still stands (see
    /// [`Confirmation::stands`]). A failure only lookout sees becomes degraded; the alert says
    /// what the probes saw, or why they could not. Not in a tick of lookout's own outage (the
    /// guard excused those results). The new confirmations, by key, to keep with the incidents.
    async fn confirm(
        &self,
        tick: &Tick,
        checked: &mut Checked,
        previous: &HashMap<String, Versioned>,
        invocation: &Invocation,
    ) -> HashMap<String, Confirmation> {
        let Some(confirmer) = &self.confirmer else {
            return HashMap::new();
        };
        let deadline = invocation
            .checks_deadline()
            .min(Instant::now() + CONFIRM_TIMEOUT);
        let mut standing: Vec<(&mut CheckResult, Confirmation)> = Vec::new();
        let mut asked = Vec::new();
        for (watch, results) in self.watches.iter().zip(checked.results.iter_mut()) {
            for result in results.iter_mut().filter(|r| r.health == Health::Failing) {
                let Some(elsewhere) = watch.check.elsewhere(result) else {
                    continue;
                };
                let kept = previous
                    .get(&result.key)
                    .and_then(|v| v.incident.confirmation.clone())
                    .filter(|c| c.stands(tick.time, watch.every));
                match kept {
                    Some(confirmation) => standing.push((result, confirmation)),
                    None => asked.push((result, elsewhere)),
                }
            }
        }
        for (result, confirmation) in standing {
            confirmation.apply(result, &confirmer.vantage);
        }
        let outcomes = join_all(
            asked
                .iter()
                .map(|(_, elsewhere)| confirmer.confirm(elsewhere, deadline)),
        )
        .await;
        let mut confirmations = HashMap::new();
        for ((result, _), outcome) in asked.into_iter().zip(outcomes) {
            let confirmation = Confirmation {
                at: tick.time,
                outcome,
            };
            tracing::info!(key = %result.key, outcome = ?confirmation.outcome, "confirmed from elsewhere");
            confirmation.apply(result, &confirmer.vantage);
            confirmations.insert(result.key.clone(), confirmation);
        }
        confirmations
    }

    /// Admit: true when the tick already finished (a redelivered event), which then changes
    /// nothing and sends nothing.
    async fn admit(&self, tick: &Tick, trouble: &mut StateTrouble) -> bool {
        match self.store.tick_finished(self.function, &tick.id).await {
            Ok(finished) => finished,
            Err(error) => {
                trouble.note(&error);
                false
            }
        }
    }

    /// Recall: every incident kept from earlier ticks, by key.
    async fn recall(&self, trouble: &mut StateTrouble) -> HashMap<String, Versioned> {
        match self.store.load(self.function).await {
            Ok(stored) => stored
                .into_iter()
                .map(|v| (v.incident.key.clone(), v))
                .collect(),
            Err(error) => {
                trouble.note(&error);
                HashMap::new()
            }
        }
    }

    /// Check: every monitor due on this tick, all at once, by the checks' deadline. What
    /// upstreams said is scrubbed of secrets before it can reach a message, a report or a log.
    async fn check(
        &self,
        tick: &Tick,
        previous: &HashMap<String, Versioned>,
        invocation: &Invocation,
    ) -> Checked {
        let memory: Memory = previous
            .iter()
            .filter_map(|(key, v)| Some((key.clone(), v.incident.memory.clone()?)))
            .collect();
        let due: Vec<bool> = self
            .watches
            .iter()
            .map(|w| w.is_due(tick, invocation.by_hand))
            .collect();
        let deadline = invocation.checks_deadline();
        // Monitors that each hold a connection (tcp, dns) run at most CONNECTION_SLOTS at once;
        // site checks bound their own (SITE_CONCURRENCY).
        let slots = tokio::sync::Semaphore::new(CONNECTION_SLOTS);
        let runs = self.watches.iter().zip(&due).map(|(watch, due)| {
            let (memory, slots) = (&memory, &slots);
            async move {
                if !*due {
                    return Vec::new();
                }
                // The semaphore is never closed, so a permit always comes.
                let _slot = match watch.check.holds_a_connection() {
                    true => slots.acquire().await.ok(),
                    false => None,
                };
                watch.check.run(tick, memory, deadline).await
            }
        });
        let mut results: Vec<Vec<CheckResult>> = join_all(runs).await;
        for result in results.iter_mut().flatten() {
            if let Some(failure) = result.failure.as_mut()
                && let std::borrow::Cow::Owned(clean) = crate::redact::scrub(&failure.message)
            {
                failure.message = clean;
            }
        }
        // Inside its maintenance window a monitor's failures are expected: shown, not judged.
        for (watch, results) in self.watches.iter().zip(results.iter_mut()) {
            if watch.policy.in_maintenance(tick.time) {
                for result in results.iter_mut().filter(|r| r.is_failing()) {
                    result.health = Health::Maintenance;
                }
            }
        }
        suppress_dependents(&self.watches, &mut results, previous);
        Checked { due, results }
    }

    /// Claim: what will be sent is written down first, in flight under this invocation's lease.
    /// An incident another invocation changed first loses its notices: that one sends them.
    async fn claim(
        &self,
        entries: &mut [Entry],
        invocation: &Invocation,
        trouble: &mut StateTrouble,
    ) {
        if entries.iter().all(|e| e.notices.is_empty()) {
            return;
        }
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
        for index in self.write(entries, None, trouble).await {
            let entry = &mut entries[index];
            tracing::warn!(key = %entry.incident.key, "another invocation changed this incident first: its notices are left to it");
            entry.notices.clear();
        }
    }

    /// Deliver: each channel its digest, all at once, by the invocation's deadline.
    async fn deliver(&self, outbox: &Outbox, invocation: &Invocation) -> Vec<Delivery> {
        if outbox.digests.is_empty() {
            return Vec::new();
        }
        notify::fan_out(
            &self.channels,
            |c| outbox.digests.get(c),
            self.backoff,
            invocation.deadline,
        )
        .await
    }

    /// Settle: record what arrived; what did not is owed. The tick is finished when nothing of it
    /// is left to retry.
    async fn settle(
        &self,
        tick: &Tick,
        entries: &mut [Entry],
        deliveries: &[Delivery],
        invocation: &Invocation,
        trouble: &mut StateTrouble,
    ) {
        let outcome = |channel: &str| match deliveries
            .iter()
            .find(|d| d.channel == channel)
            .map(|d| d.outcome)
        {
            Some(DeliveryOutcome::Delivered) => Settlement::Delivered,
            Some(DeliveryOutcome::Dropped) => Settlement::Dropped,
            _ => Settlement::Failed,
        };
        let settlements: Vec<Vec<(String, Notice, Settlement)>> = entries
            .iter()
            .map(|entry| {
                entry
                    .notices
                    .iter()
                    .map(|(channel, notice, _)| (channel.clone(), notice.clone(), outcome(channel)))
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
        let finished = !trouble.any()
            && deliveries
                .iter()
                .all(|d| d.outcome != DeliveryOutcome::Failed);
        let finish = finished.then_some((tick.id.as_str(), tick.time));
        let conflicts = self.write(entries, finish, trouble).await;
        for index in conflicts {
            self.settle_again(&entries[index], &settlements[index], invocation, trouble)
                .await;
        }
    }

    /// Writes every changed entry (and the finished tick) in one commit. An entry another
    /// invocation changed first loses its notices (the other invocation sends them); returns the
    /// indexes of such entries.
    async fn write(
        &self,
        entries: &mut [Entry],
        finished_tick: Option<(&str, DateTime<Utc>)>,
        trouble: &mut StateTrouble,
    ) -> Vec<usize> {
        let indexes: Vec<usize> = (0..entries.len()).filter(|i| entries[*i].dirty).collect();
        if indexes.is_empty() && finished_tick.is_none() {
            return Vec::new();
        }
        let commit = Commit {
            function: self.function,
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
        entry: &Entry,
        settled: &[(String, Notice, Settlement)],
        invocation: &Invocation,
        trouble: &mut StateTrouble,
    ) {
        let key = &entry.incident.key;
        for _ in 0..SETTLE_ATTEMPTS {
            let current = match self.store.get(self.function, key).await {
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
                function: self.function,
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

/// The incidents this tick closed: open (or recovering) before, passing now.
fn closed_now(
    entries: &[Entry],
    previous: &HashMap<String, Versioned>,
    at: DateTime<Utc>,
) -> Vec<Closed> {
    entries
        .iter()
        .filter(|e| e.incident.status == lifecycle::Status::Ok)
        .filter_map(|e| {
            let before = &previous.get(&e.incident.key)?.incident;
            matches!(
                before.status,
                lifecycle::Status::Open | lifecycle::Status::Recovering
            )
            .then(|| Closed {
                key: before.key.clone(),
                function: before.function.clone(),
                began_at: before.began_at.unwrap_or(before.updated_at),
                ended_at: at,
                kind: before.kind.clone(),
                message: before.message.clone(),
            })
        })
        .collect()
}

/// Decide (pure): the lifecycle's decision for every result, each by its monitor's policy and
/// channels, and for every kept incident whose monitor checked and no longer watches its target, or
/// that no monitor owns any more. An incident of a monitor not due this tick is left as it is.
fn decide(
    watches: &[Watch],
    checked: &Checked,
    own: Option<&CheckResult>,
    previous: &HashMap<String, Versioned>,
    moment: &Moment,
    policy: &Policy,
    channels: &[&str],
) -> Vec<Entry> {
    let function = watches.first().map_or("", |w| w.check.function());
    let entry = |before: Option<&Versioned>, decision: lifecycle::Decision| {
        let dirty = before.map_or(!decision.incident.is_idle(), |b| {
            differs(&b.incident, &decision.incident)
        });
        let notices = decision
            .notices
            .into_iter()
            .filter(|(channel, _, _)| channels.contains(&channel.as_str()))
            .collect();
        Entry {
            incident: decision.incident,
            version: before.map(|v| v.version),
            notices,
            dirty,
        }
    };
    let observed: HashSet<&str> = checked
        .results
        .iter()
        .flatten()
        .chain(own)
        .map(|r| r.key.as_str())
        .collect();
    let mut entries: Vec<Entry> = watches
        .iter()
        .zip(&checked.results)
        .flat_map(|(watch, results)| results.iter().map(move |result| (watch, result)))
        .map(|(watch, result)| {
            let before = previous.get(&result.key);
            let own: Vec<&str> = watch.channels.iter().map(String::as_str).collect();
            let decision = lifecycle::observe(
                before.map(|v| &v.incident),
                result,
                function,
                moment,
                &watch.policy,
                &own,
            );
            entry(before, decision)
        })
        .collect();
    // lookout's own network: the function's policy, every channel.
    if let Some(own) = own {
        let before = previous.get(&own.key);
        let decision = lifecycle::observe(
            before.map(|v| &v.incident),
            own,
            function,
            moment,
            policy,
            channels,
        );
        entries.push(entry(before, decision));
    }
    let mut kept: Vec<&Versioned> = previous
        .values()
        .filter(|v| !observed.contains(v.incident.key.as_str()))
        .filter(|v| !v.incident.is_settled())
        .collect();
    kept.sort_by(|a, b| a.incident.key.cmp(&b.incident.key));
    for before in kept {
        let key = before.incident.key.as_str();
        let owner = watches.iter().position(|w| w.check.naming().owns(key));
        let retire = match owner {
            // Its monitor left the configuration.
            None => Some((policy, channels.to_vec())),
            Some(index) if !checked.due[index] => None,
            Some(index) => {
                let watch = &watches[index];
                watch.check.retired(key, &checked.results[index]).then(|| {
                    (
                        &watch.policy,
                        watch.channels.iter().map(String::as_str).collect(),
                    )
                })
            }
        };
        match retire {
            Some((policy, heard)) => {
                tracing::info!(key = %key, "no longer watched: closing its incident");
                let decision = lifecycle::retire(&before.incident, moment, policy, &heard);
                entries.push(entry(Some(before), decision));
            }
            None => entries.push(Entry {
                incident: before.incident.clone(),
                version: Some(before.version),
                notices: Vec::new(),
                dirty: false,
            }),
        }
    }
    entries
}

/// Keeps each new confirmation with its incident, while the incident is not over (a result that
/// passed, or a flap forgotten, has none to keep).
fn remember(entries: &mut [Entry], mut confirmations: HashMap<String, Confirmation>) {
    if confirmations.is_empty() {
        return;
    }
    for entry in entries.iter_mut() {
        if entry.incident.status == lifecycle::Status::Ok {
            continue;
        }
        if let Some(confirmation) = confirmations.remove(&entry.incident.key) {
            entry.incident.confirmation = Some(confirmation);
            entry.dirty = true;
        }
    }
}

/// A failure explained by the failure of what it depends on (a program on a host whose heartbeat
/// is silent) is [`Health::Suppressed`]: shown, not judged, nobody told. What it depends on fails
/// when its result this tick fails, or, unchecked this tick, when its incident is pending or open.
fn suppress_dependents(
    watches: &[Watch],
    results: &mut [Vec<CheckResult>],
    previous: &HashMap<String, Versioned>,
) {
    let checked: HashSet<String> = results.iter().flatten().map(|r| r.key.clone()).collect();
    let failing: HashSet<String> = results
        .iter()
        .flatten()
        .filter(|r| r.is_failing())
        .map(|r| r.key.clone())
        .chain(
            previous
                .values()
                .filter(|v| !checked.contains(&v.incident.key))
                .filter(|v| {
                    matches!(
                        v.incident.status,
                        lifecycle::Status::Pending | lifecycle::Status::Open
                    )
                })
                .map(|v| v.incident.key.clone()),
        )
        .collect();
    for (watch, results) in watches.iter().zip(results.iter_mut()) {
        for result in results.iter_mut().filter(|r| r.is_failing()) {
            if watch
                .check
                .depends_on(&result.key)
                .is_some_and(|on| failing.contains(&on))
            {
                result.health = Health::Suppressed;
            }
        }
    }
}

/// Outbox (pure): one digest per channel, and each alert once with the channels it went to.
///
/// With a signer, each failing notice in a channel's digest carries its answer links, signed for
/// that channel (the report's copy carries none); `clock` is the wall clock they count from.
fn outbox(
    function: &'static str,
    time: DateTime<Utc>,
    entries: &[Entry],
    links: Option<(&Signer, DateTime<Utc>)>,
) -> Outbox {
    let mut digests: BTreeMap<String, Digest> = BTreeMap::new();
    let mut alerts: Vec<Alert> = Vec::new();
    for entry in entries {
        // An alert sent to several channels is listed once, with its channels: only this entry's
        // alerts can be the same (each names its incident).
        let first = alerts.len();
        for (channel, notice, note) in &entry.notices {
            let alert = entry.incident.alert(function, notice, *note);
            let mut sent = alert.clone();
            if let (Some((signer, clock)), Notice::Open { .. }, Some(began)) =
                (links, notice, entry.incident.began_at)
            {
                sent.links = Links::of(signer, function, &alert.key, began, channel, clock);
            }
            digests
                .entry(channel.clone())
                .or_insert_with(|| Digest {
                    function,
                    time,
                    alerts: Vec::new(),
                })
                .alerts
                .push(sent);
            let same = |listed: &mut Alert| {
                let channels = std::mem::take(&mut listed.channels);
                let same = *listed == alert;
                listed.channels = channels;
                same
            };
            match alerts[first..]
                .iter_mut()
                .find_map(|l| same(l).then_some(l))
            {
                Some(same) => same.channels.push(channel.clone()),
                None => alerts.push(Alert {
                    channels: vec![channel.clone()],
                    ..alert
                }),
            }
        }
    }
    Outbox { digests, alerts }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::site::SiteMeasurement;
    use crate::checks::{Failure, Health, Measurement, Naming};
    use crate::tick::TickSource;
    use async_trait::async_trait;
    use chrono::TimeZone;

    /// A check that is never run: decide only asks it what it owns and retires.
    struct Named(Naming);

    #[async_trait]
    impl Check for Named {
        fn function(&self) -> &'static str {
            "site-status"
        }
        fn naming(&self) -> &Naming {
            &self.0
        }
        async fn run(&self, _: &Tick, _: &Memory, _: Instant) -> Vec<CheckResult> {
            Vec::new()
        }
    }

    fn watch(name: &str, channels: &[&str], failure_threshold: u32) -> Watch {
        Watch {
            check: Box::new(Named(Naming::Monitor {
                kind: "site",
                name: name.into(),
            })),
            channels: channels.iter().map(|c| c.to_string()).collect(),
            policy: Policy {
                failure_threshold,
                ..Policy::default()
            },
            every: None,
            shown: Shown::default(),
        }
    }

    fn failing(key: &str) -> CheckResult {
        CheckResult {
            since: None,
            key: key.into(),
            target: key.into(),
            health: Health::Failing,
            failure: Some(Failure {
                kind: "status",
                message: "answered 503".into(),
            }),
            measurement: Measurement::Site(SiteMeasurement {
                url: "https://example.com/".into(),
                final_url: None,
                status: Some(503),
                elapsed_ms: 5,
                cert_days_left: None,
                attempts: 1,
            }),
            memory: None,
        }
    }

    fn moment(minute: i64) -> Moment {
        let time = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap()
            + chrono::Duration::minutes(minute);
        Moment {
            tick_id: format!("tick-{minute}"),
            time,
            invocation: format!("invocation-{minute}"),
            clock: time,
        }
    }

    fn notices(entry: &Entry) -> Vec<(&str, &Notice)> {
        entry
            .notices
            .iter()
            .map(|(c, n, _)| (c.as_str(), n))
            .collect()
    }

    /// What a tick leaves behind: every notice delivered.
    fn delivered(entries: Vec<Entry>, moment: &Moment) -> HashMap<String, Versioned> {
        entries
            .into_iter()
            .map(|mut entry| {
                for (channel, notice, note) in &entry.notices {
                    let by = &moment.invocation;
                    lifecycle::claim(&mut entry.incident, channel, notice, *note, by, moment.time);
                    lifecycle::settle(
                        &mut entry.incident,
                        channel,
                        notice,
                        by,
                        Settlement::Delivered,
                    );
                }
                let key = entry.incident.key.clone();
                (
                    key,
                    Versioned {
                        incident: entry.incident,
                        version: 1,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn decide_judges_each_result_by_its_own_monitors_policy_and_channels() {
        let watches = vec![watch("a", &["ops"], 1), watch("b", &["mail"], 2)];
        let checked = Checked {
            due: vec![true, true],
            results: vec![vec![failing("site:a")], vec![failing("site:b")]],
        };
        let all = ["ops", "mail"];
        let entries = decide(
            &watches,
            &checked,
            None,
            &HashMap::new(),
            &moment(0),
            &Policy::default(),
            &all,
        );
        assert_eq!(
            notices(&entries[0]),
            vec![("ops", &Notice::Open { step: 0 })]
        );
        assert!(
            notices(&entries[1]).is_empty(),
            "b waits for its second failure"
        );
        assert!(entries.iter().all(|e| e.dirty));
    }

    #[test]
    fn decide_leaves_a_monitor_not_due_alone_and_retires_what_no_monitor_owns() {
        let all = ["ops"];
        let first = Checked {
            due: vec![true, true],
            results: vec![vec![failing("site:a")], vec![failing("site:gone")]],
        };
        let watches = vec![watch("a", &["ops"], 1), watch("gone", &["ops"], 1)];
        let start = moment(0);
        let entries = decide(
            &watches,
            &first,
            None,
            &HashMap::new(),
            &start,
            &Policy::default(),
            &all,
        );
        let previous = delivered(entries, &start);

        // "gone" left the configuration; "a" is not due this tick.
        let watches = vec![watch("a", &["ops"], 1)];
        let checked = Checked {
            due: vec![false],
            results: vec![Vec::new()],
        };
        let later = moment(1);
        let entries = decide(
            &watches,
            &checked,
            None,
            &previous,
            &later,
            &Policy::default(),
            &all,
        );
        let by_key: HashMap<&str, &Entry> = entries
            .iter()
            .map(|e| (e.incident.key.as_str(), e))
            .collect();
        let a = by_key["site:a"];
        assert!(notices(a).is_empty() && !a.dirty, "left as it is");
        assert_eq!(a.incident, previous["site:a"].incident);
        let gone = notices(by_key["site:gone"]);
        assert_eq!(gone.len(), 1);
        assert!(
            matches!(gone[0], ("ops", Notice::Retired { .. })),
            "{gone:?}"
        );

        // Once due and with no result, "a" is retired by its own check.
        let checked = Checked {
            due: vec![true],
            results: vec![Vec::new()],
        };
        let entries = decide(
            &watches,
            &checked,
            None,
            &previous,
            &moment(2),
            &Policy::default(),
            &all,
        );
        let a = entries
            .iter()
            .find(|e| e.incident.key == "site:a")
            .expect("a");
        assert!(matches!(notices(a)[..], [("ops", Notice::Retired { .. })]));
    }

    #[test]
    fn the_outbox_has_one_digest_per_channel_and_each_alert_once() {
        let watches = vec![watch("a", &["ops", "mail"], 1), watch("b", &["mail"], 1)];
        let checked = Checked {
            due: vec![true, true],
            results: vec![vec![failing("site:a")], vec![failing("site:b")]],
        };
        let start = moment(0);
        let entries = decide(
            &watches,
            &checked,
            None,
            &HashMap::new(),
            &start,
            &Policy::default(),
            &["ops", "mail"],
        );
        let sent = outbox("site-status", start.time, &entries, None);
        let digests: Vec<(&str, Vec<&str>)> = sent
            .digests
            .iter()
            .map(|(c, d)| {
                (
                    c.as_str(),
                    d.alerts.iter().map(|a| a.key.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            digests,
            vec![("mail", vec!["site:a", "site:b"]), ("ops", vec!["site:a"])]
        );
        let alerts: Vec<(&str, Vec<String>)> = sent
            .alerts
            .iter()
            .map(|a| (a.key.as_str(), a.channels.clone()))
            .collect();
        assert_eq!(
            alerts,
            vec![
                ("site:a", vec!["ops".to_owned(), "mail".to_owned()]),
                ("site:b", vec!["mail".to_owned()])
            ]
        );
        assert!(
            outbox("site-status", start.time, &[], None)
                .digests
                .is_empty()
        );
    }

    #[test]
    fn a_monitor_is_due_on_whole_multiples_of_its_interval() {
        let every = |minutes: u64| Watch {
            every: Some(Duration::from_secs(minutes * 60)),
            ..watch("a", &[], 1)
        };
        let tick = |minute: i64, seconds: i64| Tick {
            id: "t".into(),
            time: moment(minute).time + chrono::Duration::seconds(seconds),
            source: TickSource::Schedule,
        };
        let five = every(5);
        let due: Vec<i64> = (0..15)
            .filter(|m| five.is_due(&tick(*m, 0), false))
            .collect();
        assert_eq!(due, vec![0, 5, 10]);
        assert!(five.is_due(&tick(5, -20), false) && five.is_due(&tick(5, 25), false));
        assert!(!five.is_due(&tick(4, 0), false));
        assert!(
            five.is_due(&tick(4, 0), true),
            "a local run checks everything"
        );
        let manual = Tick {
            source: TickSource::Manual,
            ..tick(3, 0)
        };
        assert!(five.is_due(&manual, false));
        assert!(
            every(0).is_due(&tick(3, 0), false),
            "under a minute: every tick"
        );
        let hourly = every(60);
        assert!(hourly.is_due(&tick(0, 0), false) && !hourly.is_due(&tick(30, 0), false));
    }
}
