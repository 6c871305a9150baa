//! One tick of a function, end to end: check, decide with the remembered state, claim, deliver,
//! record what arrived, report.

use std::collections::{BTreeMap, HashMap};

use futures::future::join_all;
use tokio::time::Instant;

use crate::alerting::lifecycle::{self, Incident, Notice};
use crate::alerting::policy::Policy;
use crate::alerting::state::{StateStore, Versioned};
use crate::alerting::{Alert, AlertNote, Digest};
use crate::checks::{Check, Memory};
use crate::notify::{self, DeliveryOutcome, Notifier};
use crate::report::{IncidentSummary, Report, Summary};
use crate::retry::Backoff;
use crate::tick::Tick;

/// A check, its channels, its state and its policy.
pub struct Monitor {
    check: Box<dyn Check>,
    notifiers: Vec<Box<dyn Notifier>>,
    store: Box<dyn StateStore>,
    policy: Policy,
    backoff: Backoff,
}

/// One incident key's part in a tick: its new state, the version it was written at, and the
/// notices it claimed.
struct Claim {
    incident: Incident,
    version: Option<u64>,
    notices: Vec<(&'static str, Notice, Option<AlertNote>)>,
}

fn note_state_error(state_error: &mut Option<String>, error: &dyn std::fmt::Display) {
    tracing::error!(%error, "state store failed: alerting without memory of earlier ticks");
    state_error.get_or_insert_with(|| error.to_string());
}

/// True when two states differ in more than the time they were last touched.
fn differs(before: &Incident, after: &Incident) -> bool {
    let mut comparable = after.clone();
    comparable.updated_at = before.updated_at;
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

    /// Runs one tick. Deliveries are retried until `deadline`.
    pub async fn tick(&self, tick: Tick, deadline: Instant) -> Report {
        let function = self.check.function();
        let channels: Vec<&'static str> = self.notifiers.iter().map(|n| n.channel()).collect();
        let channels = &channels;
        let mut state_error: Option<String> = None;

        let fresh = match self.store.record_tick(function, &tick.id, tick.time).await {
            Ok(fresh) => fresh,
            Err(error) => {
                note_state_error(&mut state_error, &error);
                true
            }
        };
        if !fresh {
            tracing::info!(tick_id = %tick.id, "tick already processed: nothing changes, nothing is sent");
            return Report::new(function, tick, Vec::new(), true);
        }
        let previous: HashMap<String, Versioned> = match self.store.load(function).await {
            Ok(stored) => stored
                .into_iter()
                .map(|v| (v.incident.key.clone(), v))
                .collect(),
            Err(error) => {
                note_state_error(&mut state_error, &error);
                HashMap::new()
            }
        };
        let remembering = state_error.is_none();
        let memory: Memory = previous
            .iter()
            .filter_map(|(key, v)| Some((key.clone(), v.incident.memory.clone()?)))
            .collect();
        let results = self.check.run(&tick, &memory).await;

        // Decide, then claim what will be sent by writing it down first.
        let decisions = results.iter().map(|result| {
            let before = previous.get(&result.key);
            let decision = lifecycle::observe(
                before.map(|v| &v.incident),
                result,
                function,
                tick.time,
                &self.policy,
                channels,
            );
            let changed = before.map_or(!decision.incident.is_idle(), |b| {
                differs(&b.incident, &decision.incident)
            });
            (decision, before.map(|v| v.version), changed)
        });
        let claims = join_all(decisions.map(|(decision, version, changed)| async move {
            let notices = decision
                .notices
                .into_iter()
                .filter_map(|(channel, notice, note)| {
                    let channel = channels.iter().find(|c| **c == channel)?;
                    Some((*channel, notice, note))
                })
                .collect();
            let mut claim = Claim {
                incident: decision.incident,
                version,
                notices,
            };
            if !(changed && remembering) {
                return (claim, None);
            }
            match self.store.save(&claim.incident, version).await {
                Ok(Some(written)) => claim.version = Some(written),
                Ok(None) => {
                    tracing::warn!(key = %claim.incident.key, "another invocation changed this incident first: its notices are left to it");
                    claim.notices.clear();
                }
                Err(error) => return (claim, Some(error)),
            }
            (claim, None)
        }))
        .await;
        let mut claimed = Vec::with_capacity(claims.len());
        for (claim, error) in claims {
            if let Some(error) = error {
                note_state_error(&mut state_error, &error);
            }
            claimed.push(claim);
        }

        // One digest per channel.
        let mut digests: BTreeMap<&'static str, Digest> = BTreeMap::new();
        let mut alerts: Vec<Alert> = Vec::new();
        for claim in &claimed {
            for (channel, notice, note) in &claim.notices {
                let alert = claim.incident.alert(function, notice, *note);
                digests
                    .entry(channel)
                    .or_insert_with(|| Digest {
                        function,
                        time: tick.time,
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
        let deliveries = if digests.is_empty() {
            Vec::new()
        } else {
            notify::fan_out(&self.notifiers, |c| digests.get(c), self.backoff, deadline).await
        };

        // Record what arrived; what did not is owed to the next tick.
        let arrived = |channel: &str| {
            deliveries
                .iter()
                .any(|d| d.channel == channel && d.outcome == DeliveryOutcome::Delivered)
        };
        let records = claimed
            .iter_mut()
            .filter(|claim| !claim.notices.is_empty())
            .map(|claim| {
                for (channel, notice, _) in &claim.notices {
                    if arrived(channel) {
                        lifecycle::delivered(&mut claim.incident, channel, notice);
                    } else {
                        lifecycle::delivery_failed(&mut claim.incident, channel, notice);
                    }
                }
                async move {
                    if !remembering {
                        return None;
                    }
                    match self.store.save(&claim.incident, claim.version).await {
                        Ok(Some(_)) => None,
                        Ok(None) => {
                            tracing::warn!(key = %claim.incident.key, "the incident changed while its notices were sent");
                            None
                        }
                        Err(error) => Some(error),
                    }
                }
            });
        for error in join_all(records).await.into_iter().flatten() {
            note_state_error(&mut state_error, &error);
        }

        let mut report = Report::new(function, tick, results, false);
        report.incidents = claimed
            .iter()
            .filter(|c| c.incident.status != lifecycle::Status::Ok)
            .map(|c| IncidentSummary::of(&c.incident, report.tick.time))
            .collect();
        report.alerts = alerts;
        report.deliveries = deliveries;
        report.state_error = state_error;
        report.summary = Summary::of(&report);
        report
    }
}
