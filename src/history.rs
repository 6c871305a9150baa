//! The history: what each tick found, per monitor, kept by the state store at one write per tick
//! whatever the number of monitors. A tick's [`Record`] holds every result of one function in a
//! compact text form (a line per monitor: state, response time, headline figure, failure kind,
//! key), cut into [`Record::chunks`] that each fit one DynamoDB item. Only the trait and the form
//! live here, below the checks; the stores that keep it are `alerting::state`'s.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use crate::ledger::StoreError;

/// How long history is kept: 400 days (a 90-day page, and a year to compare with).
pub const KEPT_DAYS: i64 = 400;
/// The most one chunk of a record may be: under DynamoDB's 400 KB item, with room for the keys.
pub const CHUNK_BYTES: usize = 350 * 1024;

/// What one monitor's result was on one tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Everything held.
    Up,
    /// Down, slow or wrong.
    Down,
    /// The monitor could not check: says nothing of the target.
    Error,
    /// Failing in a maintenance window, or while what it depends on failed: not counted.
    Excused,
    /// Failing from lookout only; probes elsewhere reached it.
    Degraded,
}

impl State {
    fn letter(self) -> char {
        match self {
            State::Up => 'u',
            State::Down => 'd',
            State::Error => 'e',
            State::Excused => 'x',
            State::Degraded => 'g',
        }
    }

    fn of_byte(letter: u8) -> Option<State> {
        match letter {
            b'u' => Some(State::Up),
            b'd' => Some(State::Down),
            b'e' => Some(State::Error),
            b'x' => Some(State::Excused),
            b'g' => Some(State::Degraded),
            _ => None,
        }
    }
}

/// One monitor's line of a tick's record.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The incident key (`site:home`, `site-status:https://example.com/`).
    pub key: String,
    /// What it found.
    pub state: State,
    /// The failure kind, when it failed (`timeout`).
    pub kind: Option<String>,
    /// The response or run time, in milliseconds, when the check has one.
    pub ms: Option<u64>,
    /// The check's one headline figure (a lag, slow nodes, CPU %), when it has one.
    pub figure: Option<f64>,
}

/// What one tick of one function found.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The function (`site-status`).
    pub function: String,
    /// The tick's time (whole seconds are kept).
    pub at: DateTime<Utc>,
    /// One line per result.
    pub entries: Vec<Entry>,
}

/// The form's version, the first word of every chunk.
const FORM: &str = "h1";

/// A key as a line keeps it: tabs, line breaks and backslashes escaped.
fn escape(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for c in key.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

fn optional<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

impl Entry {
    fn line(&self) -> String {
        let kind = self.kind.as_deref().map(escape);
        format!(
            "{}\t{}\t{}\t{}\t{}\n",
            self.state.letter(),
            optional(self.ms),
            optional(self.figure),
            kind.as_deref().unwrap_or("-"),
            escape(&self.key)
        )
    }
}

/// One line of a chunk as it is read: borrowed from the chunk's text (a key or kind is copied
/// only when it holds an escape).
#[derive(Debug, Clone, PartialEq)]
pub struct Line<'a> {
    /// The incident key.
    pub key: std::borrow::Cow<'a, str>,
    /// What it found.
    pub state: State,
    /// The failure kind, when it failed.
    pub kind: Option<std::borrow::Cow<'a, str>>,
    /// The response or run time, in milliseconds.
    pub ms: Option<u64>,
    /// The check's headline figure.
    pub figure: Option<f64>,
}

impl Line<'_> {
    /// The line as an [`Entry`] of its own.
    pub fn entry(&self) -> Entry {
        Entry {
            key: self.key.to_string(),
            state: self.state,
            kind: self.kind.as_ref().map(|k| k.to_string()),
            ms: self.ms,
            figure: self.figure,
        }
    }
}

/// A field as a line keeps it, unescaped only when it holds an escape.
fn field(text: &str) -> std::borrow::Cow<'_, str> {
    if text.bytes().any(|b| b == b'\\') {
        std::borrow::Cow::Owned(unescape(text))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// A chunk's time and function, from its first line.
fn header(text: &str) -> Result<(DateTime<Utc>, &str), StoreError> {
    let header = text.split('\n').next().unwrap_or_default();
    let mut words = header.splitn(3, ' ');
    let (Some(FORM), Some(at), Some(function)) = (words.next(), words.next(), words.next()) else {
        return Err(StoreError::Corrupt(format!(
            "a history chunk starts with {:?}",
            header.chars().take(40).collect::<String>()
        )));
    };
    let at = at
        .parse::<i64>()
        .ok()
        .and_then(|s| Utc.timestamp_opt(s, 0).single())
        .ok_or_else(|| StoreError::Corrupt(format!("a history time {at:?}")))?;
    Ok((at, function))
}

/// The tick time of a chunk, from its first line.
pub fn chunk_time(text: &str) -> Result<DateTime<Utc>, StoreError> {
    header(text).map(|(at, _)| at)
}

/// A chunk with its tick's time and function.
type Chunk<'a> = (DateTime<Utc>, String, &'a str);

/// The chunks with their time and function, in time order (then by function, then as given).
fn in_order<'a>(texts: &[&'a str]) -> Result<Vec<Chunk<'a>>, StoreError> {
    let mut chunks = Vec::with_capacity(texts.len());
    for text in texts.iter().filter(|t| !t.is_empty()) {
        let (at, function) = header(text)?;
        chunks.push((at, unescape(function), *text));
    }
    chunks.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    Ok(chunks)
}

/// The lines of a chunk after its header; a line that does not parse is an error.
fn lines_of(text: &str) -> impl Iterator<Item = Result<Line<'_>, StoreError>> {
    let mut rest = cut(text, b'\n').1;
    std::iter::from_fn(move || {
        let (line, after) = cut(rest?, b'\n');
        rest = after;
        Some(line)
    })
    .filter(|l| !l.is_empty())
    .map(|line| Line::parse(line).ok_or_else(|| corrupt(line)))
}

/// Every line of these chunks, without keeping them: `each(time, function, line)`, the chunks in
/// time order (then by function, then as given). The status page reads its 288,000 checks of a
/// day this way, without a [`Record`] of each tick. A line that does not parse is an error, never
/// skipped.
pub fn each_line<'a>(
    texts: &[&'a str],
    mut each: impl FnMut(DateTime<Utc>, &str, Line<'a>),
) -> Result<(), StoreError> {
    for (at, function, text) in in_order(texts)? {
        for line in lines_of(text) {
            each(at, &function, line?);
        }
    }
    Ok(())
}

fn corrupt(line: &str) -> StoreError {
    StoreError::Corrupt(format!(
        "a history line {:?}",
        line.chars().take(80).collect::<String>()
    ))
}

/// The text up to the next `byte` and the text after it; the whole text and `None` without one.
/// (A loop over bytes: the fields of a history line are a few bytes long, too short for a
/// searcher's set-up to pay.)
#[inline]
fn cut(text: &str, byte: u8) -> (&str, Option<&str>) {
    match text.bytes().position(|b| b == byte) {
        // `byte` is ASCII: both sides are whole characters.
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    }
}

impl<'a> Line<'a> {
    fn parse(line: &'a str) -> Option<Line<'a>> {
        let (state, rest) = cut(line, b'\t');
        let state = match state.as_bytes() {
            [letter] => State::of_byte(*letter)?,
            _ => return None,
        };
        let (ms, rest) = cut(rest?, b'\t');
        let ms = match ms {
            "-" => None,
            n => Some(n.parse().ok()?),
        };
        let (figure, rest) = cut(rest?, b'\t');
        let figure = match figure {
            "-" => None,
            n => Some(n.parse().ok()?),
        };
        let (kind, key) = cut(rest?, b'\t');
        let kind = match kind {
            "-" => None,
            k => Some(field(k)),
        };
        Some(Line {
            key: field(key?),
            state,
            kind,
            ms,
            figure,
        })
    }
}

impl Record {
    /// The first line of every chunk: the form, the time, the function.
    fn header(&self) -> String {
        format!(
            "{FORM} {} {}\n",
            self.at.timestamp(),
            escape(&self.function)
        )
    }

    /// The record as text in chunks of at most `max` bytes, each whole on its own (a line longer
    /// than a chunk is dropped: no key is that long).
    pub fn chunks(&self, max: usize) -> Vec<String> {
        let header = self.header();
        let mut chunks = Vec::new();
        let mut chunk = header.clone();
        for entry in &self.entries {
            let line = entry.line();
            if header.len() + line.len() > max {
                continue;
            }
            if chunk.len() + line.len() > max {
                chunks.push(std::mem::replace(&mut chunk, header.clone()));
            }
            chunk.push_str(&line);
        }
        chunks.push(chunk);
        chunks
    }

    /// The chunks deflated (DynamoDB's form: a tick of 1,000 monitors is a few KB).
    pub fn packed_chunks(&self, max: usize) -> Vec<Vec<u8>> {
        self.chunks(max).iter().map(|chunk| pack(chunk)).collect()
    }

    /// The record as one text (the file store's form: a chunk as long as it needs).
    pub fn text(&self) -> String {
        self.chunks(usize::MAX).remove(0)
    }

    /// Reads records back from chunks, in any order and possibly repeated (a tick written twice):
    /// the chunks of one time and function are one record, each key once, in time order.
    pub fn read(texts: &[&str]) -> Result<Vec<Record>, StoreError> {
        let mut records: Vec<Record> = Vec::new();
        for (at, function, text) in in_order(texts)? {
            let lines = lines_of(text);
            match records.last_mut() {
                // A further chunk of the same tick: its keys not yet read.
                Some(record) if record.at == at && record.function == function => {
                    let mut seen: std::collections::HashSet<String> =
                        record.entries.iter().map(|e| e.key.clone()).collect();
                    for line in lines {
                        let line = line?;
                        if seen.insert(line.key.to_string()) {
                            record.entries.push(line.entry());
                        }
                    }
                }
                _ => records.push(Record {
                    function,
                    at,
                    entries: lines
                        .map(|line| line.map(|l| l.entry()))
                        .collect::<Result<_, _>>()?,
                }),
            }
        }
        Ok(records)
    }

    /// The day (UTC) the record belongs to.
    pub fn day(&self) -> NaiveDate {
        self.at.date_naive()
    }
}

/// One monitor's day, derived from the day's history: what the status page shows of it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Rollup {
    /// The incident key.
    pub key: String,
    /// The day (UTC).
    pub day: NaiveDate,
    /// Ticks that checked it.
    pub checks: u32,
    /// Of those, up.
    pub up: u32,
    /// Down.
    pub down: u32,
    /// The monitor could not check.
    pub errors: u32,
    /// Failing from lookout only (probes elsewhere reached it): not downtime.
    #[serde(skip_serializing_if = "is_zero", default)]
    pub degraded: u32,
    /// The median response time, ms.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub p50_ms: Option<u64>,
    /// The 95th percentile response time, ms.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub p95_ms: Option<u64>,
    /// Minutes down: each down check counts until the monitor's next check (the last one of the
    /// day, as long as the check before it).
    pub downtime_minutes: u32,
}

impl Rollup {
    /// Up checks among the checks that said up or down, in per cent; `None` without any. A
    /// degraded check (reached from elsewhere) counts as up.
    pub fn uptime(&self) -> Option<f64> {
        let up = self.up + self.degraded;
        let judged = up + self.down;
        (judged > 0).then(|| f64::from(up) * 100.0 / f64::from(judged))
    }

    /// The roll-ups of every monitor in `records` (one day of one function, in time order).
    pub fn of_day(day: NaiveDate, records: &[Record]) -> Vec<Rollup> {
        use std::collections::BTreeMap;
        let mut seen: BTreeMap<&str, Tally> = BTreeMap::new();
        for record in records.iter().filter(|r| r.day() == day) {
            for entry in &record.entries {
                seen.entry(entry.key.as_str())
                    .or_insert_with(Tally::with_percentiles)
                    .add(record.at, entry.state, entry.ms);
            }
        }
        seen.into_iter()
            .map(|(key, tally)| tally.rollup(key, day))
            .collect()
    }

    /// The roll-ups of every monitor in these chunks of one function's `day` (in any order, a
    /// tick written twice counted once), read line by line: a day of 1,000 monitors checked every
    /// minute is 1.4 million checks, a few bytes each as text and over a hundred as records.
    pub fn of_chunks(day: NaiveDate, chunks: &[String]) -> Result<Vec<Rollup>, StoreError> {
        use std::collections::BTreeMap;
        let texts: Vec<&str> = chunks.iter().map(String::as_str).collect();
        // Per key: its tally, and the time of the tick it last counted.
        let mut seen: BTreeMap<String, (Tally, DateTime<Utc>)> = BTreeMap::new();
        each_line(&texts, |at, _, line| {
            if at.date_naive() != day {
                return;
            }
            let (tally, last) = match seen.get_mut(line.key.as_ref()) {
                Some(kept) => kept,
                None => seen
                    .entry(line.key.to_string())
                    .or_insert((Tally::with_percentiles(), DateTime::UNIX_EPOCH)),
            };
            if *last != at {
                *last = at;
                tally.add(at, line.state, line.ms);
            }
        })?;
        Ok(seen
            .into_iter()
            .map(|(key, (tally, _))| tally.rollup(&key, day))
            .collect())
    }

    /// The roll-up of one key's `checks` on `day`, in time order.
    pub fn of_checks(key: &str, day: NaiveDate, checks: &[Check]) -> Rollup {
        let mut tally = Tally::with_percentiles();
        for (at, state, ms) in checks {
            tally.add(*at, *state, *ms);
        }
        tally.rollup(key, day)
    }
}

/// A day's roll-up as it is counted, one check at a time in time order: what a [`Rollup`] says,
/// kept as the checks are read (the status page counts today's this way, line by line).
#[derive(Debug, Clone, Default)]
pub struct Tally {
    checks: u32,
    up: u32,
    down: u32,
    errors: u32,
    degraded: u32,
    /// The response times, when the percentiles are wanted.
    times: Option<Vec<u64>>,
    /// Seconds down so far, up to the last check.
    down_seconds: i64,
    /// The last check's time (seconds since 1970) and state, and the seconds since the one
    /// before it.
    last: Option<(i64, State, Option<i64>)>,
}

impl Tally {
    /// A tally that keeps the response times, for the percentiles.
    pub fn with_percentiles() -> Tally {
        Tally {
            times: Some(Vec::new()),
            ..Tally::default()
        }
    }

    /// Counts a check, later than those counted.
    pub fn add(&mut self, at: DateTime<Utc>, state: State, ms: Option<u64>) {
        self.add_at(at.timestamp(), state, ms);
    }

    /// Counts a check at `at` seconds since 1970, later than those counted.
    pub fn add_at(&mut self, at: i64, state: State, ms: Option<u64>) {
        self.checks += 1;
        match state {
            State::Up => self.up += 1,
            State::Down => self.down += 1,
            State::Error => self.errors += 1,
            State::Degraded => self.degraded += 1,
            State::Excused => {}
        }
        if let (Some(times), Some(ms)) = (self.times.as_mut(), ms) {
            times.push(ms);
        }
        // A down check counts until the next check.
        let gap = self.last.map(|(before, state, _)| {
            if state == State::Down {
                self.down_seconds += (at - before).max(0);
            }
            at - before
        });
        self.last = Some((at, state, gap));
    }

    /// The roll-up of `key` on `day`: a last check down counts as long as the gap before it (a
    /// minute when it is the only one), to the end of the day at most.
    pub fn rollup(&self, key: &str, day: NaiveDate) -> Rollup {
        let end_of_day = (Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default())
            + chrono::Duration::days(1))
        .timestamp();
        let mut down_seconds = self.down_seconds;
        if let Some((at, State::Down, gap)) = self.last {
            let until = (at + gap.unwrap_or(60)).min(end_of_day);
            down_seconds += (until - at).max(0);
        }
        let mut times = self.times.clone().unwrap_or_default();
        times.sort_unstable();
        let percentile =
            |p: usize| (!times.is_empty()).then(|| times[((times.len() - 1) * p).div_ceil(100)]);
        Rollup {
            key: key.to_owned(),
            day,
            checks: self.checks,
            up: self.up,
            down: self.down,
            errors: self.errors,
            degraded: self.degraded,
            p50_ms: percentile(50),
            p95_ms: percentile(95),
            downtime_minutes: u32::try_from((down_seconds + 59) / 60).unwrap_or(u32::MAX),
        }
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One check of a key, as a roll-up counts it: its time, state and response time.
pub type Check = (DateTime<Utc>, State, Option<u64>);

/// A chunk deflated.
pub fn pack(chunk: &str) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to memory cannot fail.
    let _ = encoder.write_all(chunk.as_bytes());
    encoder.finish().unwrap_or_default()
}

/// A deflated chunk's text; at most [`CHUNK_BYTES`] of it (a chunk is never more).
pub fn unpack(packed: &[u8]) -> Result<String, StoreError> {
    use std::io::Read as _;
    let mut text = String::new();
    flate2::read::DeflateDecoder::new(packed)
        .take(CHUNK_BYTES as u64 + 1)
        .read_to_string(&mut text)
        .map_err(|e| StoreError::Corrupt(format!("a history chunk does not inflate: {e}")))?;
    if text.len() > CHUNK_BYTES {
        return Err(StoreError::Corrupt(
            "a history chunk inflates past its size".into(),
        ));
    }
    Ok(text)
}

/// An incident that closed: what the status page lists of the past.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Closed {
    /// The incident key.
    pub key: String,
    /// The function that watched it.
    pub function: String,
    /// When the failure began.
    pub began_at: DateTime<Utc>,
    /// The tick it closed on.
    pub ended_at: DateTime<Utc>,
    /// The last failure's kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The last failure's sentence.
    pub message: String,
}

impl Closed {
    /// How long it was down, in whole minutes (at least one).
    pub fn downtime_minutes(&self) -> i64 {
        ((self.ended_at - self.began_at).num_seconds().max(0) + 59).max(60) / 60
    }
}

/// The history a state store keeps.
#[async_trait]
pub trait History: Send + Sync {
    /// Keeps one tick's record: one write (one request), whatever the number of monitors.
    /// Writing the same tick again replaces it, never doubles it.
    async fn append(&self, record: &Record) -> Result<(), StoreError>;

    /// The chunks of `function`'s records on `day` (UTC) as text, in any order: only those of
    /// ticks after `after` when it is given (the end of a day, without reading its start where the
    /// store can). Read them with [`Record::read`], or line by line with [`each_line`].
    async fn day_chunks(
        &self,
        function: &str,
        day: NaiveDate,
        after: Option<DateTime<Utc>>,
    ) -> Result<Vec<String>, StoreError>;

    /// The records of `function` on `day` (UTC), in time order.
    async fn day(&self, function: &str, day: NaiveDate) -> Result<Vec<Record>, StoreError> {
        let chunks = self.day_chunks(function, day, None).await?;
        Record::read(&chunks.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// The records of `function` on `day` after `after`, in time order.
    async fn day_after(
        &self,
        function: &str,
        day: NaiveDate,
        after: DateTime<Utc>,
    ) -> Result<Vec<Record>, StoreError> {
        let chunks = self.day_chunks(function, day, Some(after)).await?;
        let mut records = Record::read(&chunks.iter().map(String::as_str).collect::<Vec<_>>())?;
        records.retain(|r| r.at > after);
        Ok(records)
    }

    /// Keeps the roll-ups of `function`'s monitors on `day`, and that the day is rolled up: once
    /// a day per function (each monitor's roll-up written once).
    async fn put_rollups(
        &self,
        function: &str,
        day: NaiveDate,
        rollups: &[Rollup],
    ) -> Result<(), StoreError>;

    /// True when `function`'s `day` is rolled up.
    async fn rolled_up(&self, function: &str, day: NaiveDate) -> Result<bool, StoreError>;

    /// Keeps an incident that closed (kept [`KEPT_DAYS`] days).
    async fn record_closed(&self, closed: &Closed) -> Result<(), StoreError>;

    /// The last `most` incidents of `function` that closed, newest first.
    async fn closed(&self, function: &str, most: usize) -> Result<Vec<Closed>, StoreError>;

    /// The roll-ups of these monitors from `from` to `to` (inclusive), by key then day.
    async fn rollups(
        &self,
        keys: &[String],
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<Rollup>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: usize) -> Record {
        Record {
            function: "site-status".into(),
            at: Utc.with_ymd_and_hms(2026, 12, 6, 9, 30, 0).unwrap(),
            entries: (0..n)
                .map(|i| Entry {
                    key: format!("site:web-{i}\twith a tab\\"),
                    state: if i % 3 == 0 { State::Down } else { State::Up },
                    kind: (i % 3 == 0).then(|| "timeout".to_owned()),
                    ms: (i % 2 == 0).then_some(i as u64 * 7),
                    figure: (i % 5 == 0).then_some(i as f64 / 4.0),
                })
                .collect(),
        }
    }

    #[test]
    fn a_record_reads_back_whole_from_its_chunks_in_any_order() {
        let original = record(1000);
        let chunks = original.chunks(4096);
        assert!(chunks.len() > 5, "{}", chunks.len());
        assert!(chunks.iter().all(|c| c.len() <= 4096));
        let mut texts: Vec<&str> = chunks.iter().map(String::as_str).collect();
        texts.reverse();
        // A tick written twice is read once.
        texts.push(chunks[0].as_str());
        let read = Record::read(&texts).unwrap();
        assert_eq!(read.len(), 1);
        let mut entries = read[0].entries.clone();
        entries.sort_by(|a, b| a.key.cmp(&b.key));
        let mut expected = original.entries.clone();
        expected.sort_by(|a, b| a.key.cmp(&b.key));
        assert_eq!(entries, expected);
        assert_eq!(
            Record::read(&[original.text().as_str()]).unwrap(),
            vec![original]
        );
    }

    #[test]
    fn lines_are_read_in_time_order_borrowed_unless_escaped() {
        let later = record(3);
        let mut earlier = record(2);
        earlier.at -= chrono::Duration::minutes(1);
        earlier.entries[1].key = "site:plain".into();
        let (a, b) = (later.text(), earlier.text());
        let mut seen = Vec::new();
        each_line(&[a.as_str(), "", b.as_str()], |at, function, line| {
            assert_eq!(function, "site-status");
            let borrowed = matches!(line.key, std::borrow::Cow::Borrowed(_));
            seen.push((at, line.entry(), borrowed));
        })
        .unwrap();
        let expected: Vec<_> = earlier
            .entries
            .iter()
            .map(|e| (earlier.at, e.clone(), e.key == "site:plain"))
            .chain(later.entries.iter().map(|e| (later.at, e.clone(), false)))
            .collect();
        assert_eq!(seen, expected);
        assert!(chunk_time(&b).unwrap() < chunk_time(&a).unwrap());
        assert!(chunk_time("h1 x site-status\n").is_err());
        let broken = format!("{a}q\t-\t-\t-\tk\n");
        assert!(matches!(
            each_line(&[broken.as_str()], |_, _, _| {}),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn a_line_is_small_and_a_broken_chunk_is_corrupt_not_a_panic() {
        let one = record(1).text();
        assert!(one.len() < 80, "{one:?}");
        for bad in [
            "h2 1 f\n",
            "h1 x f\n",
            "h1 1 f\nq\t-\t-\t-\tk\n",
            "h1 1 f\nu\tms\t-\t-\tk\n",
        ] {
            assert!(
                matches!(Record::read(&[bad]), Err(StoreError::Corrupt(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_day_rolls_up_into_uptime_percentiles_and_downtime() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
        let start = Utc.with_ymd_and_hms(2026, 12, 6, 0, 0, 0).unwrap();
        // A check a minute; down from 10:00 to 10:29 (30 checks), a monitor error at 12:00, and
        // the day's last check down.
        let records: Vec<Record> = (0..1440)
            .map(|minute| {
                let state = match minute {
                    600..630 | 1439 => State::Down,
                    720 => State::Error,
                    _ => State::Up,
                };
                Record {
                    function: "site-status".into(),
                    at: start + chrono::Duration::minutes(minute),
                    entries: vec![Entry {
                        key: "site:shop".into(),
                        state,
                        kind: None,
                        ms: Some(100 + (minute as u64 % 100)),
                        figure: None,
                    }],
                }
            })
            .collect();
        let rollups = Rollup::of_day(day, &records);
        // Read from the day's chunks, in any order and one written twice: the same roll-ups.
        let mut chunks: Vec<String> = records.iter().rev().map(Record::text).collect();
        chunks.push(chunks[0].clone());
        assert_eq!(Rollup::of_chunks(day, &chunks).unwrap(), rollups);
        assert_eq!(rollups.len(), 1);
        let r = &rollups[0];
        assert_eq!((r.checks, r.up, r.down, r.errors), (1440, 1408, 31, 1));
        assert_eq!(r.downtime_minutes, 31);
        // 100 to 139 ms fifteen times each, 140 to 199 ms fourteen times.
        assert_eq!((r.p50_ms, r.p95_ms), (Some(148), Some(194)));
        let uptime = r.uptime().unwrap();
        assert!((uptime - 1408.0 * 100.0 / 1439.0).abs() < 1e-9, "{uptime}");
        assert!(Rollup::of_day(day.succ_opt().unwrap(), &records).is_empty());
    }

    #[test]
    fn ten_thousand_monitors_fit_in_a_few_items_and_deflate_to_a_fraction() {
        let record = record(10_000);
        let chunks = record.chunks(CHUNK_BYTES);
        assert!(chunks.len() <= 3, "{}", chunks.len());
        let packed = record.packed_chunks(CHUNK_BYTES);
        let raw: usize = chunks.iter().map(String::len).sum();
        let small: usize = packed.iter().map(Vec::len).sum();
        assert!(small * 4 < raw, "{small} of {raw} bytes");
        let texts: Vec<String> = packed.iter().map(|p| unpack(p).unwrap()).collect();
        assert_eq!(texts, chunks);
        assert!(unpack(b"not deflate at all").is_err());
        // A bomb is refused, not inflated whole.
        assert!(unpack(&pack(&"u\t-\t-\t-\tk\n".repeat(100_000))).is_err());
    }
}
