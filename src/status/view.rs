//! What the status page shows, built from what the store keeps: the public monitors' roll-ups,
//! the last day of history, and their incidents. Pure: the page, its JSON and its badges are all
//! drawn from one [`Page`], so they cannot disagree.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use serde::Serialize;

use crate::history::{Closed, Record, Rollup, State, Tally};
use crate::ledger::StoreError;

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

    /// True when `key` is its incident key or one of its parts' (`site:shop/...`), compared
    /// without building its key: the page asks it of every key of a function's history.
    pub fn owns(&self, key: &str) -> bool {
        key.strip_prefix(self.kind)
            .and_then(|rest| rest.strip_prefix(':'))
            .and_then(|rest| rest.strip_prefix(self.name.as_str()))
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }
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
    /// The history of the last 24 hours, per function.
    pub recent: HashMap<String, Recent>,
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

/// One key's last 24 hours, counted as its checks are read, in time order.
#[derive(Debug, Clone)]
struct Seen {
    key: String,
    /// False for a key the page does not show: its checks are not counted.
    kept: bool,
    /// The last check: its time, state and failure kind (`waiting`).
    last: Option<(DateTime<Utc>, State, Option<String>)>,
    /// Checks up (or degraded: reached from elsewhere) in the last 24 hours.
    up: u64,
    /// Checks down in the last 24 hours.
    down: u64,
    /// The response times of the last 24 hours.
    times: Vec<u64>,
    /// The response times as the sparkline draws them.
    spark: Spark,
    /// Today's roll-up so far.
    today: Tally,
}

/// A sparkline's points: every response time of the last 24 hours while there are at most
/// [`SPARK_POINTS`], else each 10-minute step's slowest, at its time.
#[derive(Debug, Clone, Default)]
struct Spark {
    count: usize,
    points: Vec<(DateTime<Utc>, u64)>,
    /// Each step's number, and its slowest point.
    steps: Vec<(i64, DateTime<Utc>, u64)>,
}

impl Spark {
    /// Adds a point at `at` (`seconds` since the 24 hours began).
    fn add(&mut self, at: DateTime<Utc>, seconds: i64, ms: u64) {
        const STEP_SECONDS: i64 = 24 * 3600 / SPARK_POINTS as i64;
        self.count += 1;
        if self.count <= SPARK_POINTS {
            self.points.push((at, ms));
        }
        let step = seconds / STEP_SECONDS;
        match self.steps.last_mut() {
            Some(last) if last.0 == step => {
                if ms > last.2 {
                    (last.1, last.2) = (at, ms);
                }
            }
            _ => self.steps.push((step, at, ms)),
        }
    }

    fn points(&self) -> Vec<(DateTime<Utc>, u64)> {
        if self.count <= SPARK_POINTS {
            return self.points.clone();
        }
        self.steps.iter().map(|(_, at, ms)| (*at, *ms)).collect()
    }
}

/// One function's last 24 hours by key: what the page draws of its history, as of `now`. Read
/// line by line from the store's chunks and counted as it is read: a day of 200 monitors
/// checked every minute is 288,000 checks, and no record or list of them is built.
#[derive(Debug, Clone)]
pub struct Recent {
    /// The time it is as of, seconds since 1970.
    now: i64,
    /// 24 hours before `now`.
    since: i64,
    /// Today (UTC): from its midnight to the next.
    today: (i64, i64),
    /// The time of the check last added, in seconds: a tick's checks share it.
    tick: (DateTime<Utc>, i64),
    keys: Vec<Seen>,
    /// Where each key is in `keys`.
    index: HashMap<String, usize>,
    /// Where the next line's key likely is: a tick lists its monitors as the tick before did.
    next: usize,
}

impl Recent {
    fn new(now: DateTime<Utc>) -> Recent {
        let midnight = |day: NaiveDate| {
            day.and_hms_opt(0, 0, 0)
                .map_or(0, |t| Utc.from_utc_datetime(&t).timestamp())
        };
        let today = now.date_naive();
        Recent {
            now: now.timestamp(),
            since: (now - Duration::hours(24)).timestamp(),
            today: (midnight(today), midnight(today + Duration::days(1))),
            tick: (DateTime::UNIX_EPOCH, 0),
            keys: Vec::new(),
            index: HashMap::new(),
            next: 0,
        }
    }

    /// The last 24 hours before `now` of the keys `keep` wants, in these chunks
    /// (`History::day_chunks`, in any order): a tick's check of a key counts once, however often
    /// its chunk was written. The page keeps its public monitors' keys of a function's history.
    pub fn read(
        chunks: &[String],
        now: DateTime<Utc>,
        keep: impl Fn(&str) -> bool,
    ) -> Result<Recent, StoreError> {
        let texts: Vec<&str> = chunks.iter().map(String::as_str).collect();
        let mut recent = Recent::new(now);
        crate::history::each_line(&texts, |at, _, line| {
            recent.add(
                at,
                &line.key,
                line.state,
                line.kind.as_deref(),
                line.ms,
                &keep,
            );
        })?;
        Ok(recent)
    }

    /// The last 24 hours before `now` in these records, every key of them.
    pub fn of_records(records: &[Record], now: DateTime<Utc>) -> Recent {
        let mut in_order: Vec<&Record> = records.iter().collect();
        in_order.sort_by_key(|r| r.at);
        let mut recent = Recent::new(now);
        for record in in_order {
            for entry in &record.entries {
                recent.add(
                    record.at,
                    &entry.key,
                    entry.state,
                    entry.kind.as_deref(),
                    entry.ms,
                    &|_| true,
                );
            }
        }
        recent
    }

    /// Counts a check of `key` if `keep` wants the key. Checks come in time order; a second
    /// check of a key at the same time is left out.
    fn add(
        &mut self,
        at: DateTime<Utc>,
        key: &str,
        state: State,
        kind: Option<&str>,
        ms: Option<u64>,
        keep: &dyn Fn(&str) -> bool,
    ) {
        let slot = match self.keys.get(self.next) {
            Some(guess) if guess.key == key => self.next,
            _ => match self.index.get(key) {
                Some(slot) => *slot,
                None => {
                    self.index.insert(key.to_owned(), self.keys.len());
                    self.keys.push(Seen {
                        key: key.to_owned(),
                        kept: keep(key),
                        last: None,
                        up: 0,
                        down: 0,
                        times: Vec::new(),
                        spark: Spark::default(),
                        today: Tally::default(),
                    });
                    self.keys.len() - 1
                }
            },
        };
        self.next = slot + 1;
        if self.tick.0 != at {
            self.tick = (at, at.timestamp());
        }
        let seconds = self.tick.1;
        let seen = &mut self.keys[slot];
        if !seen.kept || seen.last.as_ref().is_some_and(|last| last.0 >= at) {
            return;
        }
        seen.last = Some((at, state, kind.map(str::to_owned)));
        if seconds > self.since && seconds <= self.now {
            match state {
                State::Up | State::Degraded => seen.up += 1,
                State::Down => seen.down += 1,
                State::Error | State::Excused => {}
            }
            if let Some(ms) = ms {
                seen.times.push(ms);
                seen.spark.add(at, seconds - self.since, ms);
            }
        }
        if seconds >= self.today.0 && seconds < self.today.1 {
            seen.today.add_at(seconds, state, ms);
        }
    }

    fn get(&self, key: &str) -> Option<&Seen> {
        self.index.get(key).map(|slot| &self.keys[*slot])
    }
}

/// The most points a sparkline draws: the last 24 hours in 10-minute steps.
const SPARK_POINTS: usize = 144;

/// The page at `now` from what the store gave.
pub fn page(inputs: &Inputs, now: DateTime<Utc>) -> Page {
    let today = now.date_naive();
    // Each key's roll-ups of the days before today, by how many days back.
    let mut rollups: HashMap<&str, Vec<Option<&Rollup>>> = HashMap::new();
    for rollup in &inputs.rollups {
        let back = (today - rollup.day).num_days();
        if (1..DAYS).contains(&back) {
            rollups
                .entry(rollup.key.as_str())
                .or_insert_with(|| vec![None; DAYS as usize])[back as usize] = Some(rollup);
        }
    }
    let monitors: Vec<MonitorView> = inputs
        .monitors
        .iter()
        .map(|listed| {
            let key = listed.key();
            let days = rollups.get(key.as_str()).map_or(&[][..], Vec::as_slice);
            monitor(listed, inputs.recent.get(listed.function), days, today)
        })
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
    recent: Option<&Recent>,
    rollups: &[Option<&Rollup>],
    today: NaiveDate,
) -> MonitorView {
    let key = listed.key();
    // The last check of the monitor and its parts: its worst part says how it is.
    let lasts: Vec<&(DateTime<Utc>, State, Option<String>)> = recent
        .map(|r| {
            r.keys
                .iter()
                .filter(|seen| listed.owns(&seen.key))
                .filter_map(|seen| seen.last.as_ref())
                .collect()
        })
        .unwrap_or_default();
    let last_at = lasts.iter().map(|last| last.0).max();
    let now_state = match last_at {
        None => Now::NoData,
        Some(at) => {
            let states: Vec<(State, Option<&str>)> = lasts
                .iter()
                .filter(|last| last.0 == at)
                .map(|last| (last.1, last.2.as_deref()))
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
    let main = recent.and_then(|r| r.get(&key));
    // Up, down, degraded, minutes down.
    let counts = |r: &Rollup| {
        (
            u64::from(r.up),
            u64::from(r.down),
            u64::from(r.degraded),
            r.downtime_minutes,
        )
    };
    let today_counts = main.map_or((0, 0, 0, 0), |seen| counts(&seen.today.rollup(&key, today)));
    let before = |back: i64| rollups.get(back as usize).copied().flatten();
    let days: Vec<Day> = (0..DAYS)
        .rev()
        .map(|back| {
            let day = today - Duration::days(back);
            let (up, down, degraded, minutes) = if back == 0 {
                today_counts
            } else {
                before(back).map_or((0, 0, 0, 0), counts)
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
            if let Some(r) = before(back) {
                up += u64::from(r.up) + u64::from(r.degraded);
                down += u64::from(r.down);
            }
        }
        share(up, down)
    };
    let response_ms = main.and_then(|seen| {
        let mut times = seen.times.clone();
        let middle = times.len().checked_sub(1)? / 2;
        Some(*times.select_nth_unstable(middle).1)
    });
    MonitorView {
        name: listed.name.clone(),
        kind: listed.kind,
        group: listed.group.clone(),
        now: now_state,
        checked_at: last_at,
        uptime: Uptime {
            day: main.and_then(|seen| share(seen.up, seen.down)),
            week: over(7),
            month: over(30),
            quarter: over(DAYS),
        },
        response_ms,
        days,
        response: main.map(|seen| seen.spark.points()).unwrap_or_default(),
    }
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
        inputs_of(&records())
    }

    /// The inputs with this history, per function.
    pub fn inputs_of(records: &HashMap<String, Vec<Record>>) -> Inputs {
        let yesterday = now().date_naive().pred_opt().unwrap();
        let rollups = Rollup::of_day(yesterday, &records["site-status"])
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
            recent: records
                .iter()
                .map(|(function, records)| (function.clone(), Recent::of_records(records, now())))
                .collect(),
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

    /// The history: a tick a minute for 36 hours.
    pub fn records() -> HashMap<String, Vec<Record>> {
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
        HashMap::from([
            ("site-status".to_owned(), site),
            ("heartbeat".to_owned(), heartbeat),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{inputs, inputs_of, now, records};
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
        let mut records = records();
        let last = |records: &mut HashMap<String, Vec<Record>>, state| {
            let site = records.get_mut("site-status").unwrap();
            site.last_mut().unwrap().entries[0].state = state;
        };
        last(&mut records, State::Down);
        let page = page(&inputs_of(&records), now());
        assert_eq!((page.overall, page.failing), (Overall::Failing, 1));
        last(&mut records, State::Error);
        assert_eq!(
            super::page(&inputs_of(&records), now()).overall,
            Overall::Degraded
        );
    }

    #[test]
    fn a_degraded_monitor_is_amber_never_down() {
        let mut all = records();
        let today = now().date_naive();
        let records = all.get_mut("site-status").unwrap();
        // Today's failing checks, and the last one, were failing from lookout only.
        for record in records.iter_mut().filter(|r| r.at.date_naive() == today) {
            let shop = &mut record.entries[0];
            if shop.state == State::Down {
                shop.state = State::Degraded;
            }
        }
        records.last_mut().unwrap().entries[0].state = State::Degraded;
        let page = page(&inputs_of(&all), now());
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
        let mut all = records();
        let today = now().date_naive();
        // Every check of today was excused (lookout's own outage suppressed it).
        let records = all.get_mut("site-status").unwrap();
        for record in records.iter_mut().filter(|r| r.at.date_naive() == today) {
            record.entries[0].state = State::Excused;
        }
        let page = page(&inputs_of(&all), now());
        let day = page.monitors[0].days.last().unwrap();
        assert_eq!(
            (day.class, day.uptime, day.downtime_minutes),
            ("no_data", None, 0)
        );
    }

    #[test]
    fn the_history_read_from_chunks_draws_the_page_its_records_draw() {
        let records = records();
        let expected = page(&inputs_of(&records), now());
        // As the store gives them: in any order, a tick written twice, in chunks of 100 bytes.
        let mut inputs = inputs();
        for (function, records) in &records {
            let mut chunks: Vec<String> = records.iter().flat_map(|r| r.chunks(100)).collect();
            chunks.reverse();
            chunks.push(chunks[7].clone());
            // The page keeps only what it shows: not the private monitor's checks.
            let recent = Recent::read(&chunks, now(), |key| key != "site:secret").unwrap();
            inputs.recent.insert(function.clone(), recent);
        }
        assert_eq!(page(&inputs, now()), expected);
        let site = &inputs.recent["site-status"];
        assert!(site.get("site:secret").unwrap().last.is_none());
        let shop = site.get("site:shop").unwrap();
        // 12:01 yesterday to 12:00 today (the 36 hours' last check is 11:59).
        assert_eq!(shop.up + shop.down, 24 * 60 - 1);
        // A tick's check of a key is read once, the first one given.
        let at = now() - Duration::minutes(5);
        let once = |state: State| Record {
            function: "site-status".into(),
            at,
            entries: vec![crate::history::Entry {
                key: "site:shop".into(),
                state,
                kind: None,
                ms: Some(1),
                figure: None,
            }],
        };
        let recent = Recent::of_records(&[once(State::Down), once(State::Up)], now());
        let shop = recent.get("site:shop").unwrap();
        assert_eq!((shop.up, shop.down, shop.times.len()), (0, 1, 1));
        assert_eq!(
            shop.last.as_ref().map(|l| (l.0, l.1)),
            Some((at, State::Down))
        );
        let broken = ["h1 1 site-status\nu\tslow\t-\t-\tsite:shop\n".to_owned()];
        assert!(matches!(
            Recent::read(&broken, now(), |_| true),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn a_monitor_owns_its_key_and_its_parts_only() {
        let shop = &inputs().monitors[0];
        assert!(shop.owns("site:shop") && shop.owns("site:shop/node-1"));
        for other in [
            "site:shopping",
            "site:sho",
            "tcp:shop",
            "site:shop:x",
            "shop",
        ] {
            assert!(!shop.owns(other), "{other}");
        }
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
}
