//! What lookout-agent pushes about a host's programs: a supervisord program's change of state
//! (`POST <ingest>/event/<token>`), as the ingest checks it and the store keeps it.
//!
//! The store keeps a host's events for [`EVENT_MEMORY_HOURS`], keyed by the token's hash, in the
//! order of the agent's own time, each once: the agent resends an event until the ingest has it,
//! and supervisord resends one the listener did not take, stamped anew; its id alone says whether
//! it is new, and the first delivery's `at` is the one kept.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How long a host's events are kept.
pub const EVENT_MEMORY_HOURS: i64 = 24;
/// The largest event body taken.
pub const MAX_EVENT_BYTES: usize = 16 * 1024;
/// How far ahead of the ingest's clock an event's time may be.
const CLOCK_AHEAD: Duration = Duration::minutes(10);
/// The states an event may report.
pub const STATES: [&str; 4] = ["EXITED", "FATAL", "BACKOFF", "RUNNING"];

/// One program's change of state on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessEvent {
    /// The agent's idempotency key: host, supervisord instance, serial.
    pub id: String,
    /// The host, as the agent names it.
    pub host: String,
    /// supervisord's `processname`.
    pub process: String,
    /// Its `groupname`.
    pub group: String,
    /// The state it left.
    pub from_state: String,
    /// The state it entered: one of [`STATES`].
    pub state: String,
    /// For EXITED: whether the exit code was an expected one.
    pub expected: Option<bool>,
    /// Its pid, when supervisord gave one.
    pub pid: Option<u32>,
    /// supervisord's serial of the event.
    pub serial: u64,
    /// When the agent received it.
    pub at: DateTime<Utc>,
    /// Events the agent's spool dropped (full) before this one was sent.
    pub dropped: u64,
}

fn text<'a>(body: &'a Value, key: &str, max: usize) -> Result<&'a str, String> {
    let value = body
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("`{key}` is missing or not a string"))?;
    if value.is_empty() || value.len() > max || value.chars().any(char::is_control) {
        return Err(format!(
            "`{key}` is empty, longer than {max} bytes, or holds control characters"
        ));
    }
    Ok(value)
}

impl ProcessEvent {
    /// Reads and checks an event body received at `now`.
    pub fn parse(body: &[u8], now: DateTime<Utc>) -> Result<ProcessEvent, String> {
        if body.len() > MAX_EVENT_BYTES {
            return Err(format!("the event is over {MAX_EVENT_BYTES} bytes"));
        }
        let body: Value =
            serde_json::from_slice(body).map_err(|e| format!("the event is not JSON ({e})"))?;
        let state = text(&body, "state", 16)?;
        if !STATES.contains(&state) {
            return Err(format!(
                "`state` {state:?} is not one lookout takes: {}",
                STATES.join(", ")
            ));
        }
        let at = text(&body, "at", 64)?;
        let at = DateTime::parse_from_rfc3339(at)
            .map_err(|_| format!("`at` {at:?} is not an RFC 3339 time"))?
            .with_timezone(&Utc);
        if at < now - Duration::hours(EVENT_MEMORY_HOURS) {
            return Err(format!(
                "`at` is more than {EVENT_MEMORY_HOURS} h before the ingest's clock: an event that old is past what lookout keeps (set the host's clock, NTP)"
            ));
        }
        if at > now + CLOCK_AHEAD {
            return Err(format!(
                "`at` is {} min ahead of the ingest's clock: set the host's clock (NTP)",
                (at - now).num_minutes()
            ));
        }
        let optional_number = |key: &str| match body.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| format!("`{key}` is not a whole number")),
        };
        // supervisord's payload is space-separated `key:value` tokens: no name it sends holds
        // a space.
        let name = |key: &str| -> Result<String, String> {
            let value = text(&body, key, 255)?;
            if value.chars().any(char::is_whitespace) {
                return Err(format!(
                    "`{key}` holds a space, which no supervisord name does"
                ));
            }
            Ok(value.to_owned())
        };
        Ok(ProcessEvent {
            id: text(&body, "id", 512)?.to_owned(),
            host: text(&body, "host", 253)?.to_owned(),
            process: name("process")?,
            // supervisord sends an empty `groupname` for a process without a group.
            group: match body.get("group").and_then(Value::as_str) {
                Some("") | None => String::new(),
                Some(_) => name("group")?,
            },
            from_state: body
                .get("from_state")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .chars()
                .take(16)
                .collect(),
            state: state.to_owned(),
            expected: match body.get("expected") {
                None | Some(Value::Null) => None,
                Some(Value::Bool(b)) => Some(*b),
                Some(_) => return Err("`expected` is not true, false or null".into()),
            },
            pid: optional_number("pid")?
                .map(|p| u32::try_from(p).map_err(|_| "`pid` is too large".to_owned()))
                .transpose()?,
            serial: optional_number("serial")?.ok_or("`serial` is missing")?,
            at,
            dropped: optional_number("dropped")?.unwrap_or(0),
        })
    }

    /// Its key among its host's events: the agent's time, then its id, so the events of a host
    /// sort in the order they happened and a resent event has the key it had.
    pub fn sort_key(&self) -> String {
        format!("{:013}#{}", self.at.timestamp_millis().max(0), self.id)
    }

    /// When the store forgets it.
    pub fn expires(&self, received: DateTime<Utc>) -> DateTime<Utc> {
        self.at.max(received) + Duration::hours(EVENT_MEMORY_HOURS)
    }
}

/// An event as the memory and file stores keep it: with when it is forgotten.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptEvent {
    /// The event.
    pub event: ProcessEvent,
    /// When it is forgotten.
    pub expires: DateTime<Utc>,
}

/// A host's events as the memory and file stores keep them, by [`ProcessEvent::sort_key`].
pub type HostEvents = std::collections::BTreeMap<String, KeptEvent>;

/// Keeps `event` in `host` unless an event of its id is there (a resend, whatever its `at`):
/// true when it was not. Forgets what expired.
pub fn keep_in(
    host: &mut HostEvents,
    event: &ProcessEvent,
    expires: DateTime<Utc>,
    now: DateTime<Utc>,
) -> bool {
    host.retain(|_, kept| kept.expires > now);
    if host.values().any(|kept| kept.event.id == event.id) {
        return false;
    }
    let key = event.sort_key();
    host.insert(
        key,
        KeptEvent {
            event: event.clone(),
            expires,
        },
    );
    true
}

/// The events of `host` not yet forgotten, oldest first.
pub fn live_in(host: Option<&HostEvents>, now: DateTime<Utc>) -> Vec<ProcessEvent> {
    host.into_iter()
        .flat_map(|h| h.values())
        .filter(|kept| kept.expires > now)
        .map(|kept| kept.event.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 3, 2, 0, 0).unwrap()
    }

    fn body(overrides: &[(&str, Value)]) -> Vec<u8> {
        let mut event = serde_json::json!({
            "id": "web-1/boot/1234/7", "host": "web-1", "process": "api_00", "group": "api",
            "from_state": "RUNNING", "state": "EXITED", "expected": false, "pid": 4001,
            "serial": 7, "at": "2026-12-03T01:59:58.120Z", "dropped": 0
        });
        for (key, value) in overrides {
            event[*key] = value.clone();
        }
        event.to_string().into_bytes()
    }

    #[test]
    fn an_event_is_read_and_keyed_by_its_time_and_id() {
        let event = ProcessEvent::parse(&body(&[]), now()).expect("an event");
        assert_eq!(event.process, "api_00");
        assert_eq!(event.expected, Some(false));
        assert_eq!(event.sort_key(), "1796263198120#web-1/boot/1234/7");
        assert_eq!(event.expires(now()), now() + Duration::hours(24));
    }

    #[test]
    fn a_malformed_event_is_refused_saying_what_is_wrong() {
        for (overrides, says) in [
            (vec![("state", Value::from("STARTING"))], "`state`"),
            (vec![("at", Value::from("yesterday"))], "`at`"),
            (vec![("at", Value::from("2026-12-03T03:00:00Z"))], "ahead"),
            (
                vec![("at", Value::from("2026-12-02T01:59:00Z"))],
                "more than 24 h",
            ),
            (vec![("process", Value::from("api 00"))], "space"),
            (vec![("process", Value::from(""))], "`process`"),
            (vec![("host", Value::from("a\nb"))], "`host`"),
            (vec![("serial", Value::Null)], "`serial`"),
            (vec![("expected", Value::from("no"))], "`expected`"),
            (vec![("pid", Value::from(-1))], "`pid`"),
        ] {
            let error = ProcessEvent::parse(&body(&overrides), now()).expect_err("refused");
            assert!(error.contains(says), "{error}");
        }
        let ungrouped = ProcessEvent::parse(&body(&[("group", Value::from(""))]), now());
        assert_eq!(ungrouped.expect("an event without a group").group, "");
        assert!(ProcessEvent::parse(b"not json", now()).is_err());
        assert!(ProcessEvent::parse(&vec![b' '; MAX_EVENT_BYTES + 1], now()).is_err());
    }
}
