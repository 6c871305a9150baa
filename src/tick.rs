//! A tick: one run of a function, from a scheduled event or a manual invoke.
//!
//! The tick's time is the event's `time` when it has one, so replaying recorded events reproduces
//! the same decisions; its id is the event's `id`, the key that makes a redelivered event harmless.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;

/// How far an event's `time` may be from the clock before the clock is used instead.
pub const MAX_SKEW_HOURS: i64 = 24;

/// One run of a function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tick {
    /// Idempotency key: the scheduled event's `id`, else the invocation's request id.
    pub id: String,
    /// The tick's "now".
    pub time: DateTime<Utc>,
    /// How the function was started.
    pub source: TickSource,
}

/// How a tick was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TickSource {
    /// An EventBridge scheduled event.
    Schedule,
    /// Any other payload: a manual or test invoke.
    Manual,
}

impl Tick {
    /// Reads a tick from an invocation payload.
    ///
    /// `request_id` is the fallback key for a payload without an `id` (each manual invoke is its own
    /// tick, and Lambda keeps the request id when it retries an asynchronous invoke); `clock` is the
    /// fallback time, and the time when the event's is more than [`MAX_SKEW_HOURS`] off (a replayed
    /// event from 1970 or one from 2999 would break escalation ages and prune the tick ledger).
    pub fn from_event(event: &Value, request_id: &str, clock: DateTime<Utc>) -> Tick {
        let scheduled = event.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event");
        let id = event
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .unwrap_or(request_id)
            .to_owned();
        let stated = event
            .get("time")
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        let time = match stated {
            Some(time) if (time - clock).abs() <= chrono::Duration::hours(MAX_SKEW_HOURS) => time,
            Some(time) => {
                // A replayed or forged event: its time would stretch every incident's age.
                tracing::warn!(event_time = %time, clock = %clock, "the event's time is more than a day from the clock: using the clock");
                clock
            }
            None => clock,
        };
        Tick {
            id,
            time,
            source: if scheduled {
                TickSource::Schedule
            } else {
                TickSource::Manual
            },
        }
    }

    /// The scheduled event a local run pretends to receive.
    pub fn synthetic_event(clock: DateTime<Utc>) -> Value {
        serde_json::json!({
            "version": "0",
            "id": format!("local-{}", clock.timestamp_nanos_opt().unwrap_or_default()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "000000000000",
            "time": clock.to_rfc3339_opts(SecondsFormat::Secs, true),
            "region": "local",
            "resources": ["arn:aws:events:local:000000000000:rule/lookout-local"],
            "detail": {}
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn clock() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()
    }

    #[test]
    fn a_scheduled_event_gives_its_id_and_time() {
        let event = serde_json::json!({
            "version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
            "detail-type": "Scheduled Event", "source": "aws.events",
            "time": "2015-10-08T16:53:06Z", "detail": {}
        });
        let clock = Utc.with_ymd_and_hms(2015, 10, 8, 16, 54, 0).unwrap();
        let tick = Tick::from_event(&event, "req-1", clock);
        assert_eq!(tick.id, "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa");
        assert_eq!(
            tick.time,
            Utc.with_ymd_and_hms(2015, 10, 8, 16, 53, 6).unwrap()
        );
        assert_eq!(tick.source, TickSource::Schedule);
    }

    #[test]
    fn a_manual_invoke_uses_the_request_id_and_the_clock() {
        for event in [
            serde_json::json!({}),
            serde_json::json!([1, 2]),
            Value::Null,
        ] {
            let tick = Tick::from_event(&event, "req-2", clock());
            assert_eq!(tick.id, "req-2");
            assert_eq!(tick.time, clock());
            assert_eq!(tick.source, TickSource::Manual);
        }
    }

    #[test]
    fn an_unreadable_time_falls_back_to_the_clock() {
        let event = serde_json::json!({"id": "x", "time": "yesterday"});
        assert_eq!(Tick::from_event(&event, "r", clock()).time, clock());
    }

    #[test]
    fn an_event_time_more_than_a_day_off_gives_way_to_the_clock() {
        for far in [
            "1970-01-01T00:00:00Z",
            "2999-01-01T00:00:00Z",
            "2026-01-03T03:04:06Z",
        ] {
            let event = serde_json::json!({"id": "x", "time": far});
            assert_eq!(
                Tick::from_event(&event, "r", clock()).time,
                clock(),
                "{far}"
            );
        }
        // Within a day (a late retry, a recorded replay of today) the event's own time holds.
        let event = serde_json::json!({"id": "x", "time": "2026-01-01T04:00:00Z"});
        assert_eq!(
            Tick::from_event(&event, "r", clock()).time,
            Utc.with_ymd_and_hms(2026, 1, 1, 4, 0, 0).unwrap()
        );
    }

    #[test]
    fn the_synthetic_event_reads_back_as_a_scheduled_tick() {
        let event = Tick::synthetic_event(clock());
        let tick = Tick::from_event(&event, "unused", clock() + chrono::Duration::seconds(1));
        assert_eq!(tick.time, clock());
        assert_eq!(tick.source, TickSource::Schedule);
        assert!(tick.id.starts_with("local-"));
    }
}
