//! The alert lifecycle, as a pure function of the previous state, a result, the tick's moment and
//! the policy: confirm, escalate, recover, retire, hold in quiet hours, owe what could not be
//! delivered.
//!
//! Time is always the tick's time, so replaying recorded ticks reproduces the same notices. A tick
//! is applied to an incident once: a retry of the same tick (Lambda's, or an overlapping
//! invocation) or an older tick arriving late only releases what is owed. A notice being sent is
//! *in flight*, claimed by one invocation until its lease runs out; when that invocation died before
//! saying how it went, the notice is owed again ("unconfirmed"), never lost.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::answers::Answer;
use super::policy::Policy;
use super::{Alert, AlertNote, AlertState};
use crate::checks::{CheckResult, Health};

/// Owed notices a channel keeps at most per incident key (older closures are dropped first).
const MAX_OWED: usize = 20;

/// Where an incident key stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Passing.
    #[default]
    Ok,
    /// Failing, but fewer ticks than `ALERT_FAILURE_THRESHOLD`.
    Pending,
    /// An open incident.
    Open,
    /// Passing again, but fewer ticks than `ALERT_RECOVERY_THRESHOLD`.
    Recovering,
}

/// Everything remembered about one incident key between ticks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// `<function>:<target>`.
    pub key: String,
    /// The function that watches it.
    pub function: String,
    /// What is watched.
    pub target: String,
    /// Where it stands.
    pub status: Status,
    /// Whether the last failure was the target's or the monitor's.
    pub health: Health,
    /// The last failure's kind.
    pub kind: Option<String>,
    /// The last failure's sentence.
    pub message: String,
    /// When the current failure began (its first failing tick).
    pub began_at: Option<DateTime<Utc>>,
    /// The first passing tick of a recovery in progress.
    pub recovering_since: Option<DateTime<Utc>>,
    /// Consecutive failing ticks.
    pub failures: u32,
    /// Consecutive passing ticks while recovering.
    pub successes: u32,
    /// Per channel: steps sent, whether it was told, what it is still owed.
    pub channels: BTreeMap<String, ChannelProgress>,
    /// The tick that last changed this state.
    pub updated_at: DateTime<Utc>,
    /// What the check keeps for this key between ticks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<serde_json::Value>,
    /// The tick last applied to this state (a retry of it changes nothing but what is owed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_tick: Option<String>,
    /// What people answered about the current incident (acknowledged, silenced until), oldest
    /// first; cleared when it ends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<Answer>,
    /// The last confirmation of the current failure from elsewhere (`confirm`); cleared when it
    /// ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation: Option<crate::checks::confirm::Confirmation>,
}

/// One channel's part in an incident.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ChannelProgress {
    /// Escalation steps covered in the current incident (sent, claimed, or held).
    pub steps_sent: u32,
    /// A notice about the current incident was delivered.
    pub told: bool,
    /// Notices held by quiet hours or whose delivery failed, to send at the next chance.
    pub owed: Vec<Owed>,
    /// Notices an invocation claimed and is sending now.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub in_flight: Vec<InFlight>,
    /// The acknowledgement of the current incident was claimed for this channel (it is told once).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub acknowledgement_told: bool,
}

/// A notice being sent: claimed by one invocation until its lease runs out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InFlight {
    /// What is being said.
    pub notice: Notice,
    /// Why it goes out late, if it does.
    pub note: Option<AlertNote>,
    /// The invocation sending it (its request id; Lambda keeps it when it retries).
    pub by: String,
    /// The invocation's deadline, by the wall clock: past it, the sender is gone.
    pub until: DateTime<Utc>,
}

/// When and as what a tick runs: its id and time, and the invocation running it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moment {
    /// The tick's id (the idempotency key).
    pub tick_id: String,
    /// The tick's time: every age is measured with it.
    pub time: DateTime<Utc>,
    /// The invocation's request id.
    pub invocation: String,
    /// The wall clock now (for leases only, never for ages).
    pub clock: DateTime<Utc>,
}

/// A notice still to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owed {
    /// What to say.
    pub notice: Notice,
    /// Why it is still owed.
    pub reason: AlertNote,
}

/// What a channel is told about an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Notice {
    /// The incident is open: escalation step `step` (0-based).
    Open { step: u32 },
    /// It closed. `announced` is false when the channel never heard it open (quiet hours).
    Recovered {
        began_at: DateTime<Utc>,
        recovered_at: DateTime<Utc>,
        announced: bool,
    },
    /// Its target left the configuration: the incident is closed without a verdict.
    Retired {
        began_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    },
    /// Someone acknowledged it: no more escalation; told once to each channel that heard of it.
    Acknowledged { answer: Answer },
}

/// How a delivery of a notice ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// The channel took it.
    Delivered,
    /// It did not arrive: owed to the next tick.
    Failed,
    /// It did not arrive and never will (a budget spent): not owed.
    Dropped,
}

/// What one tick decided for one incident key.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The state to keep.
    pub incident: Incident,
    /// Notices to send now, per channel.
    pub notices: Vec<(String, Notice, Option<AlertNote>)>,
}

impl Incident {
    fn new(result: &CheckResult, function: &str, now: DateTime<Utc>) -> Self {
        Incident {
            key: result.key.clone(),
            function: function.to_owned(),
            target: result.target.clone(),
            status: Status::Ok,
            health: Health::Ok,
            kind: None,
            message: String::new(),
            began_at: None,
            recovering_since: None,
            failures: 0,
            successes: 0,
            channels: BTreeMap::new(),
            updated_at: now,
            memory: None,
            last_tick: None,
            answers: Vec::new(),
            confirmation: None,
        }
    }

    /// True when the incident is closed and nothing is owed to, or being sent to, any channel.
    pub fn is_settled(&self) -> bool {
        self.status == Status::Ok
            && self
                .channels
                .values()
                .all(|c| c.owed.is_empty() && c.in_flight.is_empty())
    }

    /// True when nothing about this key needs remembering.
    pub fn is_idle(&self) -> bool {
        self.is_settled() && self.memory.is_none()
    }

    /// The alert a notice stands for, in the words of the incident's current state.
    pub fn alert(&self, function: &'static str, notice: &Notice, note: Option<AlertNote>) -> Alert {
        let answer = match notice {
            Notice::Acknowledged { answer } => Some(answer.clone()),
            _ => None,
        };
        let (state, since, until, step) = match notice {
            Notice::Open { step } => (
                match self.health {
                    Health::MonitorError => AlertState::MonitorError,
                    Health::Degraded => AlertState::Degraded,
                    _ => AlertState::Failing,
                },
                self.began_at.unwrap_or(self.updated_at),
                None,
                Some(step + 1),
            ),
            Notice::Recovered {
                began_at,
                recovered_at,
                ..
            } => (AlertState::Recovered, *began_at, Some(*recovered_at), None),
            Notice::Retired { began_at, at } => (
                AlertState::Retired,
                began_at.unwrap_or(*at),
                Some(*at),
                None,
            ),
            Notice::Acknowledged { .. } => (
                AlertState::Acknowledged,
                self.began_at.unwrap_or(self.updated_at),
                None,
                None,
            ),
        };
        let unannounced = matches!(
            notice,
            Notice::Recovered {
                announced: false,
                ..
            }
        );
        Alert {
            key: self.key.clone(),
            function,
            target: self.target.clone(),
            state,
            kind: self.kind.clone(),
            message: self.message.clone(),
            since,
            until,
            step,
            note: if unannounced {
                Some(AlertNote::OpenedAndClosedUnheard)
            } else {
                note
            },
            channels: Vec::new(),
            answer,
            links: None,
        }
    }
}

/// True when this tick has not been applied to the incident yet and is newer than what was.
fn is_fresh(previous: Option<&Incident>, moment: &Moment) -> bool {
    previous.is_none_or(|p| {
        p.last_tick.as_deref() != Some(moment.tick_id.as_str()) && moment.time > p.updated_at
    })
}

/// How an incident ended on this tick.
enum Ending {
    Recovered {
        began_at: DateTime<Utc>,
        recovered_at: DateTime<Utc>,
    },
    Retired {
        began_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    },
}

/// Applies one result to the previous state of its key.
///
/// `channels` are the configured channels' names. Notices are claimed in the returned state (steps
/// marked sent); [`claim`] marks them in flight and [`settle`] records how their delivery went.
pub fn observe(
    previous: Option<&Incident>,
    result: &CheckResult,
    function: &str,
    moment: &Moment,
    policy: &Policy,
    channels: &[&str],
) -> Decision {
    let fresh = is_fresh(previous, moment);
    let now = moment.time;
    let mut incident = previous
        .cloned()
        .unwrap_or_else(|| Incident::new(result, function, now));
    let mut ending = None;
    if fresh {
        incident.target = result.target.clone();
        incident.updated_at = now;
        incident.last_tick = Some(moment.tick_id.clone());
        if result.memory.is_some() {
            incident.memory = result.memory.clone();
        }
    }
    // Inside a maintenance window a failure is expected, and one its dependency explains is told
    // by that one: neither is judged (no incident opens, an open one does not escalate); a passing
    // result still closes one.
    let judged = fresh && !matches!(result.health, Health::Maintenance | Health::Suppressed);
    if judged {
        let failing = result.is_failing();
        if failing {
            incident.health = result.health;
            incident.kind = result.failure.as_ref().map(|f| f.kind.to_owned());
            incident.message = result
                .failure
                .as_ref()
                .map(|f| f.message.clone())
                .unwrap_or_default();
        }
        // A failure the check dates (a heartbeat's missed ping) is as old as the check says.
        let began = result.since.map_or(now, |since| since.min(now));
        ending = transition(&mut incident, failing, began, now, policy).map(
            |(began_at, recovered_at)| Ending::Recovered {
                began_at,
                recovered_at,
            },
        );
    }
    let ended = ending.is_some();
    let notices = release(&mut incident, judged, ending, moment, policy, channels);
    if ended {
        incident.answers.clear();
    }
    if incident.status == Status::Ok {
        incident.confirmation = None;
    }
    Decision { incident, notices }
}

/// Closes the incident of a key that is no longer watched (its target left the configuration):
/// one "no longer monitored" notice to each channel that heard of it, then nothing more. What was
/// owed is still delivered.
pub fn retire(
    previous: &Incident,
    moment: &Moment,
    policy: &Policy,
    channels: &[&str],
) -> Decision {
    let fresh = is_fresh(Some(previous), moment);
    let mut incident = previous.clone();
    let mut ending = None;
    if fresh {
        incident.updated_at = moment.time;
        incident.last_tick = Some(moment.tick_id.clone());
        incident.memory = None;
        if incident.status != Status::Ok {
            ending = Some(Ending::Retired {
                began_at: incident.began_at,
                at: moment.time,
            });
            incident.status = Status::Ok;
            incident.failures = 0;
            incident.successes = 0;
            incident.began_at = None;
            incident.recovering_since = None;
        }
    }
    let ended = ending.is_some();
    let notices = release(&mut incident, fresh, ending, moment, policy, channels);
    if ended {
        incident.answers.clear();
    }
    Decision { incident, notices }
}

/// Decides, per channel, what goes out now: owed notices first, then an escalation step or the
/// ending; in quiet hours everything is held as owed instead.
fn release(
    incident: &mut Incident,
    judged: bool,
    ending: Option<Ending>,
    moment: &Moment,
    policy: &Policy,
    channels: &[&str],
) -> Vec<(String, Notice, Option<AlertNote>)> {
    let now = moment.time;
    let quiet = policy.is_quiet(now);
    // Acknowledged: no more escalation, and what escalation was still owed is dropped. Silenced:
    // none until the silence ends; then the step that came due, not the steps missed.
    let acknowledged = incident.acknowledged().cloned();
    let silenced = incident.silenced_until(now).is_some();
    // Degraded (failing from lookout only): the first step, to the channels that take it; never
    // escalated.
    let degraded = incident.health == Health::Degraded;
    let mut notices = Vec::new();
    for &channel in channels {
        let progress = incident.channels.entry(channel.to_owned()).or_default();
        reclaim(progress, moment);
        let mut due: Vec<(Notice, Option<AlertNote>)> = Vec::new();
        if acknowledged.is_some() {
            progress
                .owed
                .retain(|o| !matches!(o.notice, Notice::Open { .. }));
        }
        // No escalation while it looks recovered (passing, below the recovery threshold), on a
        // tick already applied, nor inside a maintenance window (`judged` is false for both).
        let escalating = !degraded || (policy.takes_degraded(channel) && progress.steps_sent == 0);
        if judged
            && incident.status == Status::Open
            && acknowledged.is_none()
            && !silenced
            && escalating
        {
            let began = incident.began_at.unwrap_or(now);
            let age = (now - began).num_minutes();
            if age >= policy.joins_after(channel)
                && let Some(step) = policy
                    .latest_due_step(age)
                    .map(|step| if degraded { 0 } else { step })
                    .filter(|step| *step >= progress.steps_sent)
            {
                progress.steps_sent = step + 1;
                // A newer step stands in for an older one still owed.
                progress
                    .owed
                    .retain(|o| !matches!(o.notice, Notice::Open { .. }));
                due.push((Notice::Open { step }, None));
            }
        }
        // The acknowledgement, once, to each channel that heard of the incident.
        if let Some(answer) = &acknowledged
            && !progress.acknowledgement_told
            && ending.is_none()
        {
            progress.acknowledgement_told = true;
            if progress.told {
                due.push((
                    Notice::Acknowledged {
                        answer: answer.clone(),
                    },
                    None,
                ));
            }
        }
        if let Some(ending) = &ending {
            let heard_of_it = progress.told
                || progress
                    .owed
                    .iter()
                    .any(|o| matches!(o.notice, Notice::Open { .. }))
                || progress
                    .in_flight
                    .iter()
                    .any(|f| matches!(f.notice, Notice::Open { .. }));
            progress
                .owed
                .retain(|o| !matches!(o.notice, Notice::Open { .. }));
            if heard_of_it {
                let notice = match *ending {
                    Ending::Recovered {
                        began_at,
                        recovered_at,
                    } => Notice::Recovered {
                        began_at,
                        recovered_at,
                        announced: progress.told,
                    },
                    Ending::Retired { began_at, at } => Notice::Retired { began_at, at },
                };
                due.push((notice, None));
            }
            progress.steps_sent = 0;
            progress.told = false;
            progress.acknowledgement_told = false;
        }
        // What was owed goes first, oldest first; while silenced, an owed step waits.
        let (waiting, owed): (Vec<Owed>, Vec<Owed>) = std::mem::take(&mut progress.owed)
            .into_iter()
            .partition(|o| silenced && matches!(o.notice, Notice::Open { .. }));
        progress.owed = waiting;
        due.splice(0..0, owed.into_iter().map(|o| (o.notice, Some(o.reason))));
        if quiet {
            progress
                .owed
                .extend(due.into_iter().map(|(notice, reason)| Owed {
                    notice,
                    reason: match reason {
                        Some(r @ (AlertNote::DeliveryFailed | AlertNote::Unconfirmed)) => r,
                        _ => AlertNote::QuietHours,
                    },
                }));
            trim(&mut progress.owed);
        } else {
            notices.extend(
                due.into_iter()
                    .map(|(notice, note)| (channel.to_owned(), notice, note)),
            );
        }
    }
    notices
}

/// Notices in flight whose sender is gone (its lease ran out, or this is Lambda's retry of the
/// same request) are owed again: the sender may or may not have delivered them.
fn reclaim(progress: &mut ChannelProgress, moment: &Moment) {
    let (gone, live): (Vec<InFlight>, Vec<InFlight>) = std::mem::take(&mut progress.in_flight)
        .into_iter()
        .partition(|f| f.by == moment.invocation || moment.clock > f.until);
    progress.in_flight = live;
    for abandoned in gone {
        progress.owed.push(Owed {
            notice: abandoned.notice,
            reason: AlertNote::Unconfirmed,
        });
    }
    trim(&mut progress.owed);
}

/// Marks a notice as being sent by `by` until `until`: written down before the send, so that a
/// crash in between leaves it owed, not lost.
pub fn claim(
    incident: &mut Incident,
    channel: &str,
    notice: &Notice,
    note: Option<AlertNote>,
    by: &str,
    until: DateTime<Utc>,
) {
    let progress = incident.channels.entry(channel.to_owned()).or_default();
    progress.in_flight.push(InFlight {
        notice: notice.clone(),
        note,
        by: by.to_owned(),
        until,
    });
}

/// Records how the delivery of a notice `by` claimed ended: delivered, owed again, or dropped.
pub fn settle(
    incident: &mut Incident,
    channel: &str,
    notice: &Notice,
    by: &str,
    settlement: Settlement,
) {
    let progress = incident.channels.entry(channel.to_owned()).or_default();
    if let Some(at) = progress
        .in_flight
        .iter()
        .position(|f| f.by == by && &f.notice == notice)
    {
        progress.in_flight.remove(at);
    }
    match settlement {
        Settlement::Delivered => {
            if matches!(notice, Notice::Open { .. }) {
                progress.told = true;
            }
        }
        Settlement::Failed => {
            progress.owed.push(Owed {
                notice: notice.clone(),
                reason: AlertNote::DeliveryFailed,
            });
            trim(&mut progress.owed);
        }
        Settlement::Dropped => {}
    }
}

/// Moves the status on (a new failure dated `began`); returns `(began_at, recovered_at)` when the
/// incident closed on this tick.
fn transition(
    incident: &mut Incident,
    failing: bool,
    began: DateTime<Utc>,
    now: DateTime<Utc>,
    policy: &Policy,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    match (incident.status, failing) {
        (Status::Ok, true) => {
            incident.failures = 1;
            incident.began_at = Some(began);
            incident.status = if policy.failure_threshold <= 1 {
                Status::Open
            } else {
                Status::Pending
            };
        }
        (Status::Pending, true) => {
            incident.failures += 1;
            if incident.failures >= policy.failure_threshold {
                incident.status = Status::Open;
            }
        }
        (Status::Pending, false) => {
            // A flap that stayed under the threshold: forgotten.
            incident.status = Status::Ok;
            incident.failures = 0;
            incident.began_at = None;
        }
        (Status::Open, true) => incident.failures += 1,
        (Status::Recovering, true) => {
            incident.status = Status::Open;
            incident.failures += 1;
            incident.successes = 0;
            incident.recovering_since = None;
        }
        (Status::Open | Status::Recovering, false) => {
            incident.successes += 1;
            let since = *incident.recovering_since.get_or_insert(now);
            if incident.successes >= policy.recovery_threshold {
                let began = incident.began_at.unwrap_or(since);
                incident.status = Status::Ok;
                incident.failures = 0;
                incident.successes = 0;
                incident.began_at = None;
                incident.recovering_since = None;
                return Some((began, since));
            }
            incident.status = Status::Recovering;
        }
        (Status::Ok, false) => {}
    }
    None
}

fn trim(owed: &mut Vec<Owed>) {
    if owed.len() > MAX_OWED {
        let excess = owed.len() - MAX_OWED;
        owed.drain(..excess);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::{Failure, Measurement, site::SiteMeasurement};
    use chrono::TimeZone;

    fn result(failing: bool) -> CheckResult {
        CheckResult {
            since: None,
            key: "site-status:https://a/".into(),
            target: "https://a/".into(),
            health: if failing { Health::Failing } else { Health::Ok },
            failure: failing.then(|| Failure {
                kind: "status",
                message: "answered 503".into(),
            }),
            measurement: Measurement::Site(SiteMeasurement {
                url: "https://a/".into(),
                final_url: None,
                status: Some(if failing { 503 } else { 200 }),
                elapsed_ms: 5,
                cert_days_left: None,
                attempts: 1,
            }),
            memory: None,
        }
    }

    fn minute(m: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).unwrap() + chrono::Duration::minutes(m)
    }

    /// The tick at minute `m`, run by invocation `by`, with the wall clock at the tick's time.
    fn moment(m: i64, by: &str) -> Moment {
        Moment {
            tick_id: format!("tick-{m}"),
            time: minute(m),
            invocation: by.into(),
            clock: minute(m),
        }
    }

    /// Delivers every notice of a decision; the state after.
    fn deliver_all(decision: Decision, by: &str) -> Incident {
        let mut incident = decision.incident;
        for (channel, notice, note) in &decision.notices {
            claim(&mut incident, channel, notice, *note, by, minute(10_000));
            settle(&mut incident, channel, notice, by, Settlement::Delivered);
        }
        incident
    }

    /// Runs ticks every `every` minutes with the given failing pattern; returns (minute, channel, notice).
    fn run(
        policy: &Policy,
        channels: &[&str],
        pattern: &[bool],
        every: i64,
    ) -> Vec<(i64, String, Notice)> {
        let mut state: Option<Incident> = None;
        let mut sent = Vec::new();
        for (i, failing) in pattern.iter().enumerate() {
            let at = i as i64 * every;
            let decision = observe(
                state.as_ref(),
                &result(*failing),
                "site-status",
                &moment(at, "inv"),
                policy,
                channels,
            );
            for (channel, notice, _) in &decision.notices {
                sent.push((at, channel.clone(), notice.clone()));
            }
            state = Some(deliver_all(decision, "inv"));
        }
        sent
    }

    #[test]
    fn a_five_minute_schedule_still_gets_the_ten_minute_notice() {
        let pattern = vec![true; 14];
        let sent = run(&Policy::default(), &["wecom"], &pattern, 5);
        let at: Vec<(i64, u32)> = sent
            .iter()
            .map(|(m, _, n)| {
                (
                    *m,
                    match n {
                        Notice::Open { step } => *step,
                        _ => 99,
                    },
                )
            })
            .collect();
        assert_eq!(at, vec![(0, 0), (10, 1), (60, 2)]);
    }

    #[test]
    fn the_threshold_confirms_before_alerting_and_flaps_are_forgotten() {
        let policy = Policy {
            failure_threshold: 3,
            ..Policy::default()
        };
        let flap = run(&policy, &["wecom"], &[true, true, false, true, false], 1);
        assert!(flap.is_empty(), "{flap:?}");
        let outage = run(&policy, &["wecom"], &[true, true, true], 1);
        assert_eq!(outage, vec![(2, "wecom".into(), Notice::Open { step: 0 })]);
    }

    #[test]
    fn recovery_tells_every_channel_that_was_told_with_the_downtime() {
        let policy = Policy {
            recovery_threshold: 2,
            channel_after_minutes: [("sms".to_owned(), 30)].into_iter().collect(),
            ..Policy::default()
        };
        // Failing from minute 0 to 19, passing from 20: SMS (after 30 min) never hears of it.
        let mut pattern = vec![true; 20];
        pattern.extend([false, false, false]);
        let sent = run(&policy, &["wecom", "sms"], &pattern, 1);
        let recoveries: Vec<_> = sent
            .iter()
            .filter(|(_, _, n)| matches!(n, Notice::Recovered { .. }))
            .collect();
        assert_eq!(recoveries.len(), 1, "{sent:?}");
        let (at, channel, notice) = recoveries[0];
        assert_eq!((*at, channel.as_str()), (21, "wecom"));
        assert_eq!(
            notice,
            &Notice::Recovered {
                began_at: minute(0),
                recovered_at: minute(20),
                announced: true
            }
        );
        assert!(sent.iter().all(|(_, c, _)| c != "sms"));
    }

    #[test]
    fn a_degraded_monitor_tells_the_channels_that_take_it_once_and_never_escalates() {
        let policy = Policy {
            channel_degraded: [("sms".to_owned(), false)].into_iter().collect(),
            ..Policy::default()
        };
        let channels = ["wecom", "sms"];
        let degraded = |failing: bool| CheckResult {
            health: if failing {
                Health::Degraded
            } else {
                Health::Ok
            },
            ..result(failing)
        };
        // Degraded for 70 minutes, then down from everywhere at minute 70, then recovered.
        let mut state: Option<Incident> = None;
        let mut sent = Vec::new();
        for at in 0..=80 {
            let result = match at {
                0..70 => degraded(true),
                70..80 => result(true),
                _ => result(false),
            };
            let decision = observe(
                state.as_ref(),
                &result,
                "site-status",
                &moment(at, "inv"),
                &policy,
                &channels,
            );
            for (channel, notice, _) in &decision.notices {
                let alert = decision.incident.alert("site-status", notice, None);
                sent.push((at, channel.clone(), notice.clone(), alert.state));
            }
            state = Some(deliver_all(decision, "inv"));
        }
        let said: Vec<(i64, &str, AlertState)> = sent
            .iter()
            .map(|(at, c, _, state)| (*at, c.as_str(), *state))
            .collect();
        assert_eq!(
            said,
            vec![
                (0, "wecom", AlertState::Degraded),
                // Down from everywhere: both hear of it at the step due.
                (70, "wecom", AlertState::Failing),
                (70, "sms", AlertState::Failing),
                (80, "wecom", AlertState::Recovered),
                (80, "sms", AlertState::Recovered),
            ],
            "{sent:?}"
        );
        assert_eq!(sent[2].2, Notice::Open { step: 2 });
    }

    #[test]
    fn a_channel_joins_late_with_one_notice_not_a_burst() {
        let policy = Policy {
            channel_after_minutes: [("sms".to_owned(), 60)].into_iter().collect(),
            ..Policy::default()
        };
        let sent = run(&policy, &["sms"], &[true; 61], 1);
        assert_eq!(sent, vec![(60, "sms".into(), Notice::Open { step: 2 })]);
    }

    #[test]
    fn a_failed_delivery_is_owed_until_it_arrives_or_is_superseded() {
        let policy = Policy::default();
        let first = observe(
            None,
            &result(true),
            "site-status",
            &moment(0, "a"),
            &policy,
            &["wecom"],
        );
        let mut incident = first.incident;
        let (_, notice, _) = &first.notices[0];
        claim(&mut incident, "wecom", notice, None, "a", minute(1));
        settle(&mut incident, "wecom", notice, "a", Settlement::Failed);
        let second = observe(
            Some(&incident),
            &result(true),
            "site-status",
            &moment(1, "b"),
            &policy,
            &["wecom"],
        );
        assert_eq!(
            second.notices,
            vec![(
                "wecom".into(),
                Notice::Open { step: 0 },
                Some(AlertNote::DeliveryFailed)
            )]
        );
        // Still failing to deliver at minute 10: the 10-minute step replaces the owed one.
        let mut incident = second.incident;
        let owed = Notice::Open { step: 0 };
        claim(&mut incident, "wecom", &owed, None, "b", minute(2));
        settle(&mut incident, "wecom", &owed, "b", Settlement::Failed);
        let third = observe(
            Some(&incident),
            &result(true),
            "site-status",
            &moment(10, "c"),
            &policy,
            &["wecom"],
        );
        assert_eq!(
            third.notices,
            vec![("wecom".into(), Notice::Open { step: 1 }, None)]
        );
    }

    #[test]
    fn quiet_hours_hold_notices_and_release_them_in_one_summary() {
        // Quiet 10:00-11:00 Shanghai = 02:00-03:00 UTC = minutes 0..60.
        let policy = Policy {
            quiet_hours: vec![super::super::policy::QuietWindow {
                start: chrono::NaiveTime::from_hms_opt(10, 0, 0).unwrap(),
                end: chrono::NaiveTime::from_hms_opt(11, 0, 0).unwrap(),
            }],
            ..Policy::default()
        };
        let mut pattern = vec![true; 15];
        pattern.extend(vec![false; 46]);
        let sent = run(&policy, &["wecom"], &pattern, 1);
        // Nothing during the window; at minute 60 the closure of an incident nobody heard of.
        assert_eq!(
            sent,
            vec![(
                60,
                "wecom".into(),
                Notice::Recovered {
                    began_at: minute(0),
                    recovered_at: minute(15),
                    announced: false
                }
            )]
        );
    }

    #[test]
    fn a_tick_is_applied_once_and_a_late_older_one_not_at_all() {
        let policy = Policy {
            failure_threshold: 3,
            ..Policy::default()
        };
        let first = observe(
            None,
            &result(true),
            "site-status",
            &moment(0, "a"),
            &policy,
            &["wecom"],
        );
        assert_eq!(first.incident.failures, 1);
        // Lambda's retry of the same tick, and the same tick from an overlapping invocation.
        for by in ["a", "b"] {
            let again = observe(
                Some(&first.incident),
                &result(true),
                "site-status",
                &moment(0, by),
                &policy,
                &["wecom"],
            );
            assert_eq!(again.incident.failures, 1, "counted once");
            assert!(again.notices.is_empty());
        }
        let second = observe(
            Some(&first.incident),
            &result(true),
            "site-status",
            &moment(5, "c"),
            &policy,
            &["wecom"],
        );
        assert_eq!(second.incident.failures, 2);
        // A retry of tick 0 arriving after tick 5: time does not run backwards.
        let late = observe(
            Some(&second.incident),
            &result(false),
            "site-status",
            &Moment {
                clock: minute(6),
                ..moment(0, "a")
            },
            &policy,
            &["wecom"],
        );
        assert_eq!(late.incident, second.incident);
    }

    #[test]
    fn a_claimed_notice_whose_sender_died_is_owed_not_lost() {
        let policy = Policy::default();
        let first = observe(
            None,
            &result(true),
            "site-status",
            &moment(0, "a"),
            &policy,
            &["wecom"],
        );
        let mut incident = first.incident;
        let (_, notice, _) = &first.notices[0];
        // Claimed by "a" until minute 2, then "a" crashed before settling it.
        claim(&mut incident, "wecom", notice, None, "a", minute(2));
        // Another invocation at minute 1 leaves it to "a": its lease still runs.
        let meanwhile = observe(
            Some(&incident),
            &result(true),
            "site-status",
            &moment(1, "b"),
            &policy,
            &["wecom"],
        );
        assert!(meanwhile.notices.is_empty(), "{:?}", meanwhile.notices);
        // Past the lease it is owed again, marked unconfirmed.
        let later = observe(
            Some(&meanwhile.incident),
            &result(true),
            "site-status",
            &moment(3, "c"),
            &policy,
            &["wecom"],
        );
        assert_eq!(
            later.notices,
            vec![(
                "wecom".into(),
                Notice::Open { step: 0 },
                Some(AlertNote::Unconfirmed)
            )]
        );
        // Lambda's retry of "a" itself (the same request id) takes it over at once.
        let retry = observe(
            Some(&incident),
            &result(true),
            "site-status",
            &Moment {
                clock: minute(1),
                ..moment(0, "a")
            },
            &policy,
            &["wecom"],
        );
        assert_eq!(
            retry.notices,
            vec![(
                "wecom".into(),
                Notice::Open { step: 0 },
                Some(AlertNote::Unconfirmed)
            )]
        );
    }

    #[test]
    fn a_retired_incident_tells_those_who_heard_of_it_once() {
        let policy = Policy::default();
        let first = observe(
            None,
            &result(true),
            "site-status",
            &moment(0, "a"),
            &policy,
            &["wecom", "sms"],
        );
        let mut incident = first.incident;
        // wecom got the first notice; sms never heard of it.
        let (_, notice, _) = first.notices.iter().find(|(c, _, _)| c == "wecom").unwrap();
        claim(&mut incident, "wecom", notice, None, "a", minute(1));
        settle(&mut incident, "wecom", notice, "a", Settlement::Delivered);
        let sms = Notice::Open { step: 0 };
        claim(&mut incident, "sms", &sms, None, "a", minute(1));
        settle(&mut incident, "sms", &sms, "a", Settlement::Dropped);
        let retired = retire(&incident, &moment(5, "b"), &policy, &["wecom", "sms"]);
        assert_eq!(
            retired.notices,
            vec![(
                "wecom".into(),
                Notice::Retired {
                    began_at: Some(minute(0)),
                    at: minute(5)
                },
                None
            )]
        );
        let incident = deliver_all(retired, "b");
        assert!(incident.is_settled());
        assert!(
            retire(&incident, &moment(6, "c"), &policy, &["wecom", "sms"])
                .notices
                .is_empty()
        );
    }
}
