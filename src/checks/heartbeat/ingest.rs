//! What the ingest refused while heartbeats were due: a silence the ingest's own refusals explain
//! is not the host's. The 503s the ingest counted in the store, and (when the stack names the
//! function) the `Throttles` and `Errors` CloudWatch counted, minute by minute, read only on a tick
//! when a monitor is silent; one result for all the function's heartbeat monitors says it.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use tokio::time::Instant;

use super::super::{Check, CheckResult, Health, Measurement, Memory, Naming, kind};
use super::{FUNCTION, Heartbeat, Ledger, judge};
use crate::pings::PingRecord;
use crate::tick::Tick;

/// The ingest refused requests while pings were due: the hosts' silence is not trusted.
pub const INGEST_REFUSED: crate::checks::FailureKind =
    kind("ingest_refused", "接收端拒收", "ingest refusing");
/// The variable naming the ingest function, whose throttles and errors CloudWatch counts (the
/// stack sets it).
pub const INGEST_FUNCTION_VAR: &str = "INGEST_FUNCTION_NAME";
/// The incident key of what the ingest refused.
const INGEST_KEY: &str = "refused";
/// The longest silence the ingest's refusals are read back for.
const MAX_REFUSAL_WINDOW: chrono::Duration = chrono::Duration::days(7);
/// How late Lambda's metrics reach CloudWatch (a minute's sums take a minute or two to appear): a
/// silence younger than this is held until the minutes it needs are in.
pub const METRICS_DELAY: chrono::Duration = chrono::Duration::minutes(3);

/// What the ingest refused (answered 429 or 5xx) in one minute.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Refused {
    /// Throttled (CloudWatch's `Throttles` of the ingest function).
    pub throttled: u64,
    /// Failed: the function's errors (CloudWatch's `Errors`) and the 503s it counted in the store.
    pub failed: u64,
}

/// The ingest's refusals per minute (the minute's start), from CloudWatch and the store.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IngestRefusals {
    /// By minute.
    pub minutes: std::collections::BTreeMap<DateTime<Utc>, Refused>,
    /// Why a source could not be read, when one could not (the silence is then judged on what
    /// could be).
    pub unread: Option<String>,
}

impl IngestRefusals {
    /// The minutes of refusals that explain a silence since `last` at `now`: refused after the last
    /// ping, and so recently that the host has not had a whole period + grace of a healthy ingest
    /// since (its next ping after the refusal would not be late yet).
    pub fn explaining(
        &self,
        heartbeat: &Heartbeat,
        last: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Vec<DateTime<Utc>> {
        let grace = chrono::Duration::from_std(heartbeat.grace).unwrap_or(chrono::Duration::MAX);
        self.minutes
            .keys()
            .filter(|minute| **minute <= now)
            .filter(|minute| {
                let ended = **minute + chrono::Duration::minutes(1);
                ended > last
                    && heartbeat
                        .due_after(ended)
                        .is_none_or(|due| now <= due + grace)
            })
            .copied()
            .collect()
    }
}

/// The oldest minute whose refusals could explain a silence since `last` at `now` (a bound for
/// [`IngestRefusals::explaining`]): the last ping's, or, for a monitor pinging every `period`,
/// `period` + `grace` (and the minute itself) before `now`, whichever is later. A schedule's gaps
/// vary, so its bound is the last ping.
fn oldest_explaining(
    heartbeat: &Heartbeat,
    last: DateTime<Utc>,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    let span = match &heartbeat.expect {
        super::Expect::Every(period) => chrono::Duration::from_std(*period + heartbeat.grace)
            .ok()
            .map(|span| span + chrono::Duration::minutes(1)),
        super::Expect::Schedule { .. } => None,
    };
    span.and_then(|span| now.checked_sub_signed(span))
        .map_or(last, |bound| bound.max(last))
}

/// What the ingest refused while the silent hosts' pings were due, read once per tick.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IngestVerdict {
    /// The silent monitors whose silence the refusals explain (token hashes).
    pub untrusted: std::collections::HashSet<String>,
    /// The silent monitors whose silence is younger than [`METRICS_DELAY`], held until
    /// CloudWatch has the minutes that would explain it (only when CloudWatch is read).
    pub held: std::collections::HashSet<String>,
    /// The first minute of the refusals that explain them.
    pub since: Option<DateTime<Utc>>,
    /// Requests refused in those minutes.
    pub refused: u64,
    /// Whether any were throttled.
    pub throttled: bool,
    /// Whether any failed.
    pub failed: bool,
    /// Why the refusals could not all be read.
    pub unread: Option<String>,
}

/// Which silences the ingest's refusals explain. Nothing is read when no monitor is silent.
pub(super) async fn verdict(
    ledger: &Ledger,
    records: &HashMap<String, PingRecord>,
    now: DateTime<Utc>,
) -> IngestVerdict {
    // Each silent monitor, with when its silence became late (its ping due, plus the grace).
    let silent: Vec<(&Heartbeat, &PingRecord, DateTime<Utc>)> = ledger
        .monitors
        .iter()
        .filter_map(|(name, heartbeat)| {
            let record = records.get(&heartbeat.token_hash)?;
            let (_, failure, due, _) = judge(heartbeat, name, Some(record), now, now);
            let grace = chrono::Duration::from_std(heartbeat.grace).ok()?;
            (failure?.kind == "late").then_some((heartbeat, record, due? + grace))
        })
        .collect();
    // Read only as far back as a refusal could still explain one of them: a host pinging every
    // `period` has had a healthy ingest since any refusal older than its period and grace.
    let Some(earliest) = silent
        .iter()
        .map(|(heartbeat, record, _)| oldest_explaining(heartbeat, record.last_at, now))
        .min()
    else {
        return IngestVerdict::default();
    };
    let refusals = refusals(ledger, earliest.max(now - MAX_REFUSAL_WINDOW), now).await;
    let mut verdict = IngestVerdict {
        unread: refusals.unread.clone(),
        ..IngestVerdict::default()
    };
    let mut minutes = std::collections::BTreeSet::new();
    for (heartbeat, record, late_since) in silent {
        let explaining = refusals.explaining(heartbeat, record.last_at, now);
        if !explaining.is_empty() {
            verdict.untrusted.insert(heartbeat.token_hash.clone());
            minutes.extend(explaining);
        } else if ledger.ingest.is_some() && now - late_since < METRICS_DELAY {
            verdict.held.insert(heartbeat.token_hash.clone());
        }
    }
    for minute in &minutes {
        let refused = refusals.minutes[minute];
        verdict.refused += refused.throttled + refused.failed;
        verdict.throttled |= refused.throttled > 0;
        verdict.failed |= refused.failed > 0;
    }
    verdict.since = minutes.first().copied();
    verdict
}

/// The ingest's refusals per minute from `since` to `now`: the 503s it counted in the store,
/// and the throttles and errors CloudWatch counted.
async fn refusals(ledger: &Ledger, since: DateTime<Utc>, now: DateTime<Utc>) -> IngestRefusals {
    let mut refusals = IngestRefusals::default();
    let mut unread = Vec::new();
    match ledger.store.ingest_refusals(since).await {
        Ok(counted) => {
            for (minute, count) in counted {
                refusals.minutes.entry(minute).or_default().failed += count;
            }
        }
        Err(error) => unread.push(format!("the store: {error}")),
    }
    if let Some(metrics) = &ledger.ingest {
        let start = crate::ledger::minute_of(since);
        let end = crate::ledger::minute_of(now) + chrono::Duration::minutes(1);
        match metrics
            .per_minute(&["Throttles", "Errors"], start, end)
            .await
        {
            Ok(found) => {
                for (metric, sums) in found {
                    for (minute, sum) in sums.into_iter().filter(|(_, sum)| *sum >= 1.0) {
                        let entry = refusals.minutes.entry(minute).or_default();
                        if metric == "Throttles" {
                            entry.throttled += sum as u64;
                        } else {
                            entry.failed += sum as u64;
                        }
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, function = metrics.function(), "the ingest's throttles could not be read from CloudWatch");
                unread.push(error);
            }
        }
    }
    refusals.unread = (!unread.is_empty()).then(|| unread.join("; "));
    refusals
}

/// What the ingest refused while pings were due: one result for all the heartbeat monitors of the
/// function, a monitor error while it explains a silence (the hosts' own incidents wait), else
/// passing.
pub(super) struct IngestCheck {
    pub(super) naming: Naming,
    pub(super) ledger: Arc<Ledger>,
}

/// What the ingest's result measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IngestMeasurement {
    /// Requests it refused in the minutes that explain a silence.
    pub refused: u64,
    /// The first of those minutes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// Silent monitors whose silence is not trusted.
    pub untrusted: usize,
    /// Why its refusals could not all be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unread: Option<String>,
}

impl IngestCheck {
    fn result(&self, verdict: &IngestVerdict, timezone: Tz, now: DateTime<Utc>) -> CheckResult {
        let measurement = IngestMeasurement {
            refused: verdict.refused,
            since: verdict.since,
            untrusted: verdict.untrusted.len(),
            unread: verdict.unread.clone(),
        };
        let key = self.naming.whole(INGEST_KEY);
        let target = "ingest".to_owned();
        let Some(since) = verdict.since.filter(|_| !verdict.untrusted.is_empty()) else {
            return CheckResult {
                key,
                target,
                health: Health::Ok,
                failure: None,
                measurement: Measurement::Ingest(measurement),
                memory: None,
                since: None,
            };
        };
        let why = match (verdict.throttled, verdict.failed) {
            (true, true) => "throttled and failing",
            (true, false) => "throttled",
            _ => "answered 5xx",
        };
        let (local, today) = (since.with_timezone(&timezone), now.with_timezone(&timezone));
        let at = if local.date_naive() == today.date_naive() {
            local.format("%H:%M").to_string()
        } else {
            local.format("%m-%d %H:%M").to_string()
        };
        let hosts = match verdict.untrusted.len() {
            1 => "1 host".to_owned(),
            n => format!("{n} hosts"),
        };
        let message = format!(
            "the ingest refused {} requests since {at} ({why}): silence of {hosts} is not trusted",
            verdict.refused
        );
        let mut result =
            CheckResult::monitor_error(key, target, message, Measurement::Ingest(measurement));
        if let Some(failure) = result.failure.as_mut() {
            failure.kind = INGEST_REFUSED.kind;
        }
        result.since = Some(since);
        result
    }
}

#[async_trait]
impl Check for IngestCheck {
    fn function(&self) -> &'static str {
        FUNCTION
    }

    fn naming(&self) -> &Naming {
        &self.naming
    }

    async fn run(&self, tick: &Tick, _memory: &Memory, deadline: Instant) -> Vec<CheckResult> {
        let Ok(reading) = tokio::time::timeout_at(deadline, self.ledger.reading(tick)).await else {
            return Vec::new();
        };
        let timezone = self
            .ledger
            .monitors
            .first()
            .map_or(chrono_tz::UTC, |(_, h)| h.timezone);
        vec![self.result(&reading.ingest, timezone, tick.time)]
    }

    /// Its result is kept while the pings cannot be read (nothing then says it is over).
    fn retired(&self, key: &str, results: &[CheckResult]) -> bool {
        !results.is_empty() && !results.iter().any(|r| r.key == key)
    }

    fn local_summary(&self, results: &[CheckResult]) -> Option<String> {
        let result = results.first()?;
        let Measurement::Ingest(m) = &result.measurement else {
            return None;
        };
        (m.untrusted > 0 || m.unread.is_some()).then(|| {
            let mut figures = format!("refused {} requests", m.refused);
            if let Some(unread) = &m.unread {
                figures.push_str(&format!(" (could not read: {unread})"));
            }
            crate::checks::summary_line(result, &figures)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// 2026-12-01, UTC.
    fn local(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, h, m, 0).unwrap()
    }

    #[test]
    fn refusals_explain_a_silence_only_until_the_host_had_a_healthy_period_and_grace() {
        // Pings every 5 min, 2 min of grace; the last at 10:00.
        let h = Heartbeat::read(&crate::config::Env::from_pairs([
            ("HEARTBEAT_TOKEN", "0123456789abcdef0123"),
            ("HEARTBEAT_PERIOD", "5m"),
            ("HEARTBEAT_GRACE", "2m"),
        ]))
        .unwrap();
        let refusals = |minutes: &[(u32, u32)]| IngestRefusals {
            minutes: minutes
                .iter()
                .map(|(h, m)| {
                    (
                        local(*h, *m),
                        Refused {
                            throttled: 10,
                            failed: 0,
                        },
                    )
                })
                .collect(),
            unread: None,
        };
        let last = local(10, 0);
        // Refused before the last ping: it explains nothing after it.
        assert!(
            refusals(&[(9, 58)])
                .explaining(&h, last, local(10, 8))
                .is_empty()
        );
        // Refused at 10:04 (the minute ends 10:05): the next ping would be late at 10:12.
        let at_10_04 = refusals(&[(10, 4)]);
        assert_eq!(at_10_04.explaining(&h, last, local(10, 8)), [local(10, 4)]);
        assert_eq!(at_10_04.explaining(&h, last, local(10, 12)), [local(10, 4)]);
        // By 10:13 the host had a whole period and grace of a healthy ingest: silence is its own.
        assert!(at_10_04.explaining(&h, last, local(10, 13)).is_empty());
        // What is read covers every minute that could explain it, and no more than it needs.
        assert_eq!(oldest_explaining(&h, last, local(10, 8)), last);
        assert_eq!(oldest_explaining(&h, last, local(10, 40)), local(10, 32));
        assert!(
            at_10_04.explaining(&h, last, local(10, 12))[0]
                >= oldest_explaining(&h, last, local(10, 12))
        );
        // A refusal after the tick is not read as one during it.
        assert!(
            refusals(&[(10, 20)])
                .explaining(&h, last, local(10, 8))
                .is_empty()
        );
    }
}
