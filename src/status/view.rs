//! What the status page shows, built from what the store keeps: the public monitors' roll-ups,
//! the last day of history, and their incidents. Pure: the page, its JSON and its badges are all
//! drawn from one [`Page`], so they cannot disagree.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;

use crate::history::{Closed, Record, Rollup, State};

/// Days the page shows.
pub const DAYS: i64 = 90;
/// Closed incidents the page lists.
pub const CLOSED_SHOWN: usize = 20;
/// A day with more than this share of downtime is a "down" day in the bar.
const DOWN_DAY_SHARE: f64 = 5.0;

/// A monitor the page may show (`public: true`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Its name in `lookout.yaml`.
    pub name: String,
    /// Its type (`site`).
    pub kind: &'static str,
    /// The function that runs it.
    pub function: &'static str,
    /// Its group on the page.
    pub group: Option<String>,
}

impl Listed {
    /// Its incident key (`site:shop`); its parts' keys are `site:shop/<part>`.
    pub fn key(&self) -> String {
        format!("{}:{}", self.kind, self.name)
    }

    fn owns(&self, key: &str) -> bool {
        owned_by(&self.key(), key)
    }
}

/// True when `key` is the monitor's of key `own`, or one of its parts' (`site:shop/...`).
fn owned_by(own: &str, key: &str) -> bool {
    key == own
        || key
            .strip_prefix(own)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// An incident that is open now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    /// Its key.
    pub key: String,
    /// When it began.
    pub since: DateTime<Utc>,
    /// Its last failure.
    pub message: String,
    /// When someone acknowledged it, if anyone did.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Until when it is silenced, if it is.
    pub silenced_until: Option<DateTime<Utc>>,
}

/// What the store gave for one page.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// The public monitors, in the file's order.
    pub monitors: Vec<Listed>,
    /// The history of the last two days, per function.
    pub records: HashMap<String, Vec<Record>>,
    /// The roll-ups of the public monitors' last [`DAYS`] days.
    pub rollups: Vec<Rollup>,
    /// Open incidents.
    pub open: Vec<Open>,
    /// Closed incidents, newest first.
    pub closed: Vec<Closed>,
}

/// A monitor's state now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Now {
    /// Its last check passed.
    Up,
    /// Its last check failed.
    Down,
    /// Its last check failed from lookout only; probes elsewhere reached it.
    Degraded,
    /// Its last check could not be made.
    MonitorError,
    /// In maintenance, or excused while what it depends on fails.
    Maintenance,
    /// A heartbeat monitor that has not had its first ping.
    Waiting,
    /// Not checked yet.
    NoData,
}

/// One day's cell of the 90-day bar.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Day {
    /// The day (UTC).
    pub day: NaiveDate,
    /// `no_data`, `up`, `degraded` (failing from lookout only, never down), `some_downtime` or
    /// `down` (over 5 % down).
    pub class: &'static str,
    /// Up checks among judged ones, per cent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uptime: Option<f64>,
    /// Minutes down.
    pub downtime_minutes: u32,
}

/// Uptime over the page's four periods, per cent (`None`: no check in it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Uptime {
    /// The last 24 hours.
    #[serde(rename = "24h")]
    pub day: Option<f64>,
    /// The last 7 days.
    #[serde(rename = "7d")]
    pub week: Option<f64>,
    /// The last 30 days.
    #[serde(rename = "30d")]
    pub month: Option<f64>,
    /// The last 90 days.
    #[serde(rename = "90d")]
    pub quarter: Option<f64>,
}

/// One monitor on the page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonitorView {
    /// Its name.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Its group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Its state now.
    pub now: Now,
    /// Its last check's time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checked_at: Option<DateTime<Utc>>,
    /// Uptime per period.
    pub uptime: Uptime,
    /// The median response time of the last 24 hours, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_ms: Option<u64>,
    /// The last [`DAYS`] days, oldest first.
    pub days: Vec<Day>,
    /// Response times of the last 24 hours: (time, ms), oldest first; each 10-minute step's
    /// slowest when there are more than 144.
    pub response: Vec<(DateTime<Utc>, u64)>,
}

/// An incident on the page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentView {
    /// The monitor's name.
    pub monitor: String,
    /// When it began.
    pub began_at: DateTime<Utc>,
    /// When it ended (closed ones).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    /// Minutes down (so far, for an open one).
    pub downtime_minutes: i64,
    /// Its failure.
    pub message: String,
    /// When someone said they are on it (open ones; who is not shown on a public page).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Until when its notices are silenced (open ones).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub silenced_until: Option<DateTime<Utc>>,
}

/// The page's headline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Overall {
    /// Every monitor is up (or not checked yet).
    Operational,
    /// Some monitor is down.
    Failing,
    /// None is down, but some could not be checked.
    Degraded,
}

/// The whole page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page {
    /// When it was drawn.
    pub generated_at: DateTime<Utc>,
    /// The headline.
    pub overall: Overall,
    /// Monitors down now.
    pub failing: usize,
    /// The monitors, in the file's order (grouped by the page).
    pub monitors: Vec<MonitorView>,
    /// Incidents open now, newest first.
    pub open_incidents: Vec<IncidentView>,
    /// The last closed ones, newest first.
    pub closed_incidents: Vec<IncidentView>,
}

/// Up checks among `up + down`, per cent.
fn share(up: u64, down: u64) -> Option<f64> {
    (up + down > 0).then(|| up as f64 * 100.0 / (up + down) as f64)
}

/// One key's checks in the history: time, state, failure kind, response time.
type Check<'a> = (DateTime<Utc>, State, Option<&'a str>, Option<u64>);

/// A function's history, by key, read once for all its monitors.
struct Series<'a> {
    by_key: HashMap<&'a str, Vec<Check<'a>>>,
    /// Today's roll-ups so far, by key.
    today: HashMap<String, Rollup>,
}

impl<'a> Series<'a> {
    fn of(records: &'a [Record], today: NaiveDate) -> Self {
        let mut by_key: HashMap<&str, Vec<Check<'a>>> = HashMap::new();
        for record in records {
            for entry in &record.entries {
                by_key.entry(entry.key.as_str()).or_default().push((
                    record.at,
                    entry.state,
                    entry.kind.as_deref(),
                    entry.ms,
                ));
            }
        }
        for checks in by_key.values_mut() {
            checks.sort_by_key(|c| c.0);
        }
        // Today's roll-ups so far, from the checks already grouped.
        let today = by_key
            .iter()
            .map(|(key, checks)| {
                let todays: Vec<crate::history::Check> = checks
                    .iter()
                    .filter(|c| c.0.date_naive() == today)
                    .map(|c| (c.0, c.1, c.3))
                    .collect();
                ((*key).to_owned(), Rollup::of_checks(key, today, &todays))
            })
            .collect();
        Series { by_key, today }
    }
}

/// The most points a sparkline draws: the last 24 hours in 10-minute steps.
const SPARK_POINTS: usize = 144;

/// The page at `now` from what the store gave.
pub fn page(inputs: &Inputs, now: DateTime<Utc>) -> Page {
    let today = now.date_naive();
    let series: HashMap<&str, Series> = inputs
        .records
        .iter()
        .map(|(function, records)| (function.as_str(), Series::of(records, today)))
        .collect();
    let rollups: HashMap<(&str, NaiveDate), &Rollup> = inputs
        .rollups
        .iter()
        .filter(|r| r.day < today)
        .map(|r| ((r.key.as_str(), r.day), r))
        .collect();
    let monitors: Vec<MonitorView> = inputs
        .monitors
        .iter()
        .map(|listed| monitor(listed, series.get(listed.function), &rollups, now, today))
        .collect();
    let failing = monitors.iter().filter(|m| m.now == Now::Down).count();
    let overall = if failing > 0 {
        Overall::Failing
    } else if monitors
        .iter()
        .any(|m| matches!(m.now, Now::MonitorError | Now::Degraded))
    {
        Overall::Degraded
    } else {
        Overall::Operational
    };
    let name_of = |key: &str| {
        inputs
            .monitors
            .iter()
            .find(|m| m.owns(key))
            .map(|m| m.name.clone())
    };
    let mut open_incidents: Vec<IncidentView> = inputs
        .open
        .iter()
        .filter_map(|o| {
            Some(IncidentView {
                monitor: name_of(&o.key)?,
                began_at: o.since,
                ended_at: None,
                downtime_minutes: ((now - o.since).num_seconds().max(0) + 59) / 60,
                message: o.message.clone(),
                acknowledged_at: o.acknowledged_at,
                silenced_until: o.silenced_until.filter(|until| *until > now),
            })
        })
        .collect();
    open_incidents.sort_by_key(|i| std::cmp::Reverse(i.began_at));
    let mut closed_incidents: Vec<IncidentView> = inputs
        .closed
        .iter()
        .filter_map(|c| {
            Some(IncidentView {
                monitor: name_of(&c.key)?,
                began_at: c.began_at,
                ended_at: Some(c.ended_at),
                downtime_minutes: c.downtime_minutes(),
                message: c.message.clone(),
                acknowledged_at: None,
                silenced_until: None,
            })
        })
        .collect();
    closed_incidents.sort_by_key(|i| std::cmp::Reverse(i.ended_at));
    closed_incidents.truncate(CLOSED_SHOWN);
    Page {
        generated_at: now,
        overall,
        failing,
        monitors,
        open_incidents,
        closed_incidents,
    }
}

fn monitor(
    listed: &Listed,
    series: Option<&Series>,
    rollups: &HashMap<(&str, NaiveDate), &Rollup>,
    now: DateTime<Utc>,
    today: NaiveDate,
) -> MonitorView {
    let key = listed.key();
    let empty = Vec::new();
    let own: Vec<&Vec<Check>> = series
        .map(|s| {
            s.by_key
                .iter()
                .filter(|(k, _)| owned_by(&key, k))
                .map(|(_, checks)| checks)
                .collect()
        })
        .unwrap_or_default();
    // The last check of the monitor: its worst part says how it is.
    let last_at = own.iter().filter_map(|c| c.last()).map(|c| c.0).max();
    let now_state = match last_at {
        None => Now::NoData,
        Some(at) => {
            let states: Vec<(State, Option<&str>)> = own
                .iter()
                .filter_map(|c| c.last())
                .filter(|c| c.0 == at)
                .map(|c| (c.1, c.2))
                .collect();
            if states.iter().any(|(s, _)| *s == State::Down) {
                Now::Down
            } else if states.iter().any(|(s, _)| *s == State::Degraded) {
                Now::Degraded
            } else if states.iter().any(|(s, _)| *s == State::Error) {
                Now::MonitorError
            } else if states.iter().any(|(s, _)| *s == State::Excused) {
                Now::Maintenance
            } else if states.iter().any(|(_, k)| *k == Some("waiting")) {
                Now::Waiting
            } else {
                Now::Up
            }
        }
    };
    let main: &Vec<Check> = series
        .and_then(|s| s.by_key.get(key.as_str()))
        .unwrap_or(&empty);
    let since = now - Duration::hours(24);
    let (mut day_up, mut day_down) = (0u64, 0u64);
    let mut response = Vec::new();
    for (at, state, _, ms) in main.iter().filter(|c| c.0 > since && c.0 <= now) {
        match state {
            State::Up | State::Degraded => day_up += 1,
            State::Down => day_down += 1,
            _ => {}
        }
        if let Some(ms) = ms {
            response.push((*at, *ms));
        }
    }
    // Up, down, degraded, minutes down.
    let counts = |r: &Rollup| {
        (
            u64::from(r.up),
            u64::from(r.down),
            u64::from(r.degraded),
            r.downtime_minutes,
        )
    };
    let today_counts = series
        .and_then(|s| s.today.get(&key))
        .map_or((0, 0, 0, 0), counts);
    let days: Vec<Day> = (0..DAYS)
        .rev()
        .map(|back| {
            let day = today - Duration::days(back);
            let (up, down, degraded, minutes) = if day == today {
                today_counts
            } else {
                rollups
                    .get(&(key.as_str(), day))
                    .map_or((0, 0, 0, 0), |r| counts(r))
            };
            // A degraded check reached the target from elsewhere: up, but not all well.
            let uptime = share(up + degraded, down);
            let class = match uptime {
                None => "no_data",
                Some(_) if down == 0 && degraded > 0 => "degraded",
                Some(_) if down == 0 => "up",
                Some(u) if 100.0 - u <= DOWN_DAY_SHARE => "some_downtime",
                Some(_) => "down",
            };
            Day {
                day,
                class,
                uptime,
                downtime_minutes: minutes,
            }
        })
        .collect();
    let over = |n: i64| {
        let (mut up, mut down) = (today_counts.0 + today_counts.2, today_counts.1);
        for back in 1..n {
            if let Some(r) = rollups.get(&(key.as_str(), today - Duration::days(back))) {
                up += u64::from(r.up) + u64::from(r.degraded);
                down += u64::from(r.down);
            }
        }
        share(up, down)
    };
    let mut times: Vec<u64> = response.iter().map(|(_, ms)| *ms).collect();
    times.sort_unstable();
    MonitorView {
        name: listed.name.clone(),
        kind: listed.kind,
        group: listed.group.clone(),
        now: now_state,
        checked_at: last_at,
        uptime: Uptime {
            day: share(day_up, day_down),
            week: over(7),
            month: over(30),
            quarter: over(DAYS),
        },
        response_ms: (!times.is_empty()).then(|| times[(times.len() - 1) / 2]),
        days,
        response: thinned(&response, since),
    }
}

/// At most [`SPARK_POINTS`] points: each 10-minute step's slowest, at its time.
fn thinned(points: &[(DateTime<Utc>, u64)], since: DateTime<Utc>) -> Vec<(DateTime<Utc>, u64)> {
    if points.len() <= SPARK_POINTS {
        return points.to_vec();
    }
    let step = 24 * 3600 / SPARK_POINTS as i64;
    let mut out: Vec<(DateTime<Utc>, u64)> = Vec::with_capacity(SPARK_POINTS + 1);
    let mut bucket = None;
    for (at, ms) in points {
        let this = (*at - since).num_seconds() / step;
        if bucket == Some(this) {
            if let Some(last) = out.last_mut()
                && *ms > last.1
            {
                *last = (*at, *ms);
            }
        } else {
            bucket = Some(this);
            out.push((*at, *ms));
        }
    }
    out
}

#[cfg(test)]
pub mod fixtures {
    //! A recorded history for the page's tests: an outage yesterday, a flap today, a monitor with
    //! no data yet, a heartbeat monitor waiting for its first ping, and a private monitor.

    use super::*;
    use crate::history::Entry;
    use chrono::TimeZone;

    /// The page's time: 2026-12-06 12:00 UTC.
    pub fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 6, 12, 0, 0).unwrap()
    }

    fn listed(name: &str, kind: &'static str, function: &'static str) -> Listed {
        Listed {
            name: name.into(),
            kind,
            function,
            group: Some("Web".into()),
        }
    }

    /// The inputs: `shop` (down yesterday 10:00-10:59, flapping today at 11:00), `new` (no data),
    /// `backup` (a heartbeat waiting for its first ping); `secret` is in the history, not listed.
    pub fn inputs() -> Inputs {
        let start = now() - Duration::hours(36);
        let mut site = Vec::new();
        let mut heartbeat = Vec::new();
        for minute in 0..(36 * 60) {
            let at = start + Duration::minutes(minute);
            let yesterday_outage = at >= Utc.with_ymd_and_hms(2026, 12, 5, 10, 0, 0).unwrap()
                && at < Utc.with_ymd_and_hms(2026, 12, 5, 11, 0, 0).unwrap();
            let flap = at == Utc.with_ymd_and_hms(2026, 12, 6, 11, 0, 0).unwrap();
            let shop_state = if yesterday_outage || flap {
                State::Down
            } else {
                State::Up
            };
            site.push(Record {
                function: "site-status".into(),
                at,
                entries: vec![
                    Entry {
                        key: "site:shop".into(),
                        state: shop_state,
                        kind: (shop_state == State::Down).then(|| "timeout".into()),
                        ms: Some(100 + (minute as u64 % 50)),
                        figure: None,
                    },
                    Entry {
                        key: "site:secret".into(),
                        state: State::Down,
                        kind: Some("status".into()),
                        ms: Some(5),
                        figure: None,
                    },
                ],
            });
            heartbeat.push(Record {
                function: "heartbeat".into(),
                at,
                entries: vec![Entry {
                    key: "heartbeat:backup".into(),
                    state: State::Up,
                    kind: Some("waiting".into()),
                    ms: None,
                    figure: None,
                }],
            });
        }
        let yesterday = now().date_naive().pred_opt().unwrap();
        let rollups = Rollup::of_day(yesterday, &site)
            .into_iter()
            .filter(|r| r.key == "site:shop")
            .collect();
        Inputs {
            monitors: vec![
                listed("shop", "site", "site-status"),
                listed("new", "site", "site-status"),
                Listed {
                    group: None,
                    ..listed("backup", "heartbeat", "heartbeat")
                },
            ],
            records: HashMap::from([
                ("site-status".to_owned(), site),
                ("heartbeat".to_owned(), heartbeat),
            ]),
            rollups,
            open: vec![Open {
                key: "site:secret".into(),
                since: now() - Duration::hours(2),
                message: "secret is down".into(),
                acknowledged_at: None,
                silenced_until: None,
            }],
            closed: vec![
                Closed {
                    key: "site:shop".into(),
                    function: "site-status".into(),
                    began_at: Utc.with_ymd_and_hms(2026, 12, 5, 10, 0, 0).unwrap(),
                    ended_at: Utc.with_ymd_and_hms(2026, 12, 5, 11, 0, 0).unwrap(),
                    kind: Some("timeout".into()),
                    message: "https://shop.example.com/ timed out <script>alert(1)</script>".into(),
                },
                Closed {
                    key: "site:secret".into(),
                    function: "site-status".into(),
                    began_at: Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap(),
                    ended_at: Utc.with_ymd_and_hms(2026, 12, 4, 11, 0, 0).unwrap(),
                    kind: None,
                    message: "secret things".into(),
                },
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{inputs, now};
    use super::*;

    #[test]
    fn the_page_says_what_the_history_says_of_public_monitors_only() {
        let page = page(&inputs(), now());
        let names: Vec<&str> = page.monitors.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["shop", "new", "backup"]);
        let shop = &page.monitors[0];
        assert_eq!(shop.now, Now::Up);
        // The last 24 hours: 12:01 yesterday to 11:59 today, one down check (the flap).
        let day = shop.uptime.day.unwrap();
        assert!((day - 1438.0 * 100.0 / 1439.0).abs() < 1e-9, "{day}");
        // Yesterday's hour down: 4.2 % of the day, under the 5 % of a "down" day.
        let yesterday = &shop.days[shop.days.len() - 2];
        assert_eq!(yesterday.class, "some_downtime");
        assert_eq!(yesterday.downtime_minutes, 60);
        let today = shop.days.last().unwrap();
        assert_eq!((today.class, today.downtime_minutes), ("some_downtime", 1));
        assert_eq!(shop.days.len(), DAYS as usize);
        assert_eq!(shop.days[0].class, "no_data");
        assert_eq!(shop.response.len(), 144, "a day of minutes, thinned");
        assert_eq!(page.monitors[1].now, Now::NoData);
        assert!(page.monitors[1].days.iter().all(|d| d.class == "no_data"));
        assert_eq!(page.monitors[2].now, Now::Waiting);
        assert_eq!(page.overall, Overall::Operational);
        // Nothing of the private monitor: its open incident and its closed one are left out.
        assert!(page.open_incidents.is_empty());
        assert_eq!(page.closed_incidents.len(), 1);
        assert_eq!(page.closed_incidents[0].monitor, "shop");
        assert_eq!(page.closed_incidents[0].downtime_minutes, 60);
        let json = serde_json::to_string(&page).unwrap();
        assert!(!json.contains("secret"), "{json}");
    }

    #[test]
    fn an_open_incident_shows_its_acknowledgement_and_silence_but_not_who() {
        let mut inputs = inputs();
        inputs.open.push(Open {
            key: "site:shop".into(),
            since: now() - Duration::minutes(30),
            message: "down".into(),
            acknowledged_at: Some(now() - Duration::minutes(10)),
            silenced_until: Some(now() + Duration::hours(1)),
        });
        let page = page(&inputs, now());
        let open = &page.open_incidents[0];
        assert_eq!(open.acknowledged_at, Some(now() - Duration::minutes(10)));
        assert_eq!(open.silenced_until, Some(now() + Duration::hours(1)));
        let json = serde_json::to_value(open).unwrap();
        assert!(json["acknowledged_at"].is_string() && json["silenced_until"].is_string());
        let look = look();
        let html = super::super::html::page(&look, &page);
        assert!(html.contains("data-answer=\"acknowledged\">acknowledged 2026-12-06 11:50</span>"));
        assert!(html.contains("data-answer=\"silenced\">silenced until 2026-12-06 13:00</span>"));
        // A silence that has ended is not shown.
        inputs.open.last_mut().unwrap().silenced_until = Some(now() - Duration::minutes(1));
        assert_eq!(
            super::page(&inputs, now()).open_incidents[0].silenced_until,
            None
        );
    }

    #[test]
    fn a_monitor_down_now_heads_the_page_as_failing() {
        let mut inputs = inputs();
        let records = inputs.records.get_mut("site-status").unwrap();
        records.last_mut().unwrap().entries[0].state = State::Down;
        let page = page(&inputs, now());
        assert_eq!((page.overall, page.failing), (Overall::Failing, 1));
        records_error(&mut inputs);
        assert_eq!(super::page(&inputs, now()).overall, Overall::Degraded);
    }

    #[test]
    fn a_degraded_monitor_is_amber_never_down() {
        let mut inputs = inputs();
        let today = now().date_naive();
        let records = inputs.records.get_mut("site-status").unwrap();
        // Today's failing checks, and the last one, were failing from lookout only.
        for record in records.iter_mut().filter(|r| r.at.date_naive() == today) {
            let shop = &mut record.entries[0];
            if shop.state == State::Down {
                shop.state = State::Degraded;
            }
        }
        records.last_mut().unwrap().entries[0].state = State::Degraded;
        let page = page(&inputs, now());
        let shop = &page.monitors[0];
        assert_eq!(shop.now, Now::Degraded);
        assert_eq!((page.overall, page.failing), (Overall::Degraded, 0));
        let day = shop.days.last().unwrap();
        assert_eq!(
            (day.class, day.uptime, day.downtime_minutes),
            ("degraded", Some(100.0), 0)
        );
        let look = look();
        let html = super::super::html::page(&look, &page);
        assert!(
            html.contains("class=\"day degraded\""),
            "the day's cell is amber"
        );
        assert!(
            html.contains("class=\"state degraded\""),
            "the state is amber"
        );
        assert_eq!(
            super::super::badge::message(shop, super::super::badge::Shows::Status).0,
            "degraded"
        );
    }

    #[test]
    fn ticks_of_lookouts_own_outage_are_no_data_never_downtime() {
        let mut inputs = inputs();
        let today = now().date_naive();
        // Every check of today was excused (lookout's own outage suppressed it).
        let records = inputs.records.get_mut("site-status").unwrap();
        for record in records.iter_mut().filter(|r| r.at.date_naive() == today) {
            record.entries[0].state = State::Excused;
        }
        let page = page(&inputs, now());
        let day = page.monitors[0].days.last().unwrap();
        assert_eq!(
            (day.class, day.uptime, day.downtime_minutes),
            ("no_data", None, 0)
        );
    }

    /// An English page in UTC.
    fn look() -> super::super::html::Look {
        super::super::html::Look {
            title: "Status".into(),
            description: None,
            language: crate::alerting::render::Language::English,
            timezone: chrono_tz::UTC,
            link_suffix: String::new(),
        }
    }

    fn records_error(inputs: &mut Inputs) {
        let records = inputs.records.get_mut("site-status").unwrap();
        records.last_mut().unwrap().entries[0].state = State::Error;
    }
}
