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
        let texts: Vec<&str> = chunks.iter().map(String::as_str).collect();
        let mut tally = DayTally::new(day);
        for (_, _, text) in in_order(&texts)? {
            tally.add(text)?;
        }
        Ok(tally.rollups())
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

/// A day's roll-ups counted as its chunks are read, one chunk at a time in time order: the tick's
/// daily roll-up reads yesterday so ([`History::each_day_chunk`]), holding its monitors' tallies
/// and never the day (10,000 monitors checked every minute are 360 MB of text a day).
pub struct DayTally {
    day: NaiveDate,
    /// Per key, in the order first seen: its tally, and the time of the tick it last counted.
    tallies: Vec<(String, Tally, i64)>,
    /// Where each key's tally is.
    places: std::collections::HashMap<String, usize>,
    /// The place after the last line's: ticks list their monitors in the same order, so the next
    /// line is most often the next key.
    next: usize,
}

impl DayTally {
    /// Nothing counted yet of `day`.
    pub fn new(day: NaiveDate) -> DayTally {
        DayTally {
            day,
            tallies: Vec::new(),
            places: std::collections::HashMap::new(),
            next: 0,
        }
    }

    /// Counts a chunk of a tick no earlier than those counted (a tick counted already is not
    /// counted again); a chunk of another day is passed over.
    pub fn add(&mut self, chunk: &str) -> Result<(), StoreError> {
        let (at, _) = header(chunk)?;
        if at.date_naive() != self.day {
            return Ok(());
        }
        let at = at.timestamp();
        for line in lines_of(chunk) {
            let line = line?;
            let place = match self.tallies.get(self.next) {
                Some((key, ..)) if *key == line.key => self.next,
                _ => match self.places.get(line.key.as_ref()) {
                    Some(&place) => place,
                    None => {
                        let key = line.key.to_string();
                        self.places.insert(key.clone(), self.tallies.len());
                        self.tallies
                            .push((key, Tally::with_percentiles(), i64::MIN));
                        self.tallies.len() - 1
                    }
                },
            };
            let (_, tally, last) = &mut self.tallies[place];
            if *last != at {
                *last = at;
                tally.add_at(at, line.state, line.ms);
            }
            self.next = place + 1;
        }
        Ok(())
    }

    /// Each key's roll-up of the day, by key.
    pub fn rollups(self) -> Vec<Rollup> {
        let mut rollups: Vec<Rollup> = self
            .tallies
            .iter()
            .map(|(key, tally, _)| tally.rollup(key, self.day))
            .collect();
        rollups.sort_by(|a, b| a.key.cmp(&b.key));
        rollups
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
    times: Option<Times>,
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
            times: Some(Times::default()),
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
            times.add(ms);
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
        let percentile = |p: u64| self.times.as_ref().and_then(|times| times.percentile(p));
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

/// Response times as a roll-up keeps them: how many fell in each bucket, in bucket order. A
/// bucket is one millisecond up to 255 ms, then 1/128 of each power of two (a time is kept within
/// 0.8 %): a monitor's day of one-minute checks is at most a few hundred buckets, not 1,440
/// numbers, so 10,000 monitors' day fits a function's memory. New times wait in a short list and
/// are counted in by the list: a day's read touches each monitor's buckets a few dozen times, not
/// once a check (at 10,000 monitors, looking a bucket up for each check was most of the roll-up).
#[derive(Debug, Clone, Default)]
struct Times {
    counted: Vec<(u16, u32)>,
    waiting: Vec<u16>,
}

/// The most times waiting to be counted in.
const TIMES_WAITING: usize = 64;

impl Times {
    fn add(&mut self, ms: u64) {
        self.waiting.push(bucket_of(ms));
        if self.waiting.len() >= TIMES_WAITING {
            self.count_in();
        }
    }

    /// Counts the waiting times into the buckets: one pass over both, in bucket order.
    fn count_in(&mut self) {
        if self.waiting.is_empty() {
            return;
        }
        self.waiting.sort_unstable();
        let mut merged = Vec::with_capacity(self.counted.len() + self.waiting.len());
        let mut counted = self.counted.iter().copied().peekable();
        let mut waiting = self.waiting.iter().copied().peekable();
        loop {
            let next = match (counted.peek(), waiting.peek()) {
                (Some(&(bucket, count)), Some(&fresh)) if bucket <= fresh => {
                    counted.next();
                    (bucket, count)
                }
                (_, Some(&fresh)) => {
                    waiting.next();
                    (fresh, 1)
                }
                (Some(&kept), None) => {
                    counted.next();
                    kept
                }
                (None, None) => break,
            };
            match merged.last_mut() {
                Some((bucket, count)) if *bucket == next.0 => *count += next.1,
                _ => merged.push(next),
            }
        }
        self.counted = merged;
        self.waiting.clear();
    }

    /// The `p`th percentile: the time at place ceil((n - 1) x p / 100) of the n in order (the
    /// lowest time of its bucket).
    fn percentile(&self, p: u64) -> Option<u64> {
        let mut all = self.clone();
        all.count_in();
        let n: u64 = all.counted.iter().map(|(_, count)| u64::from(*count)).sum();
        let place = (n.checked_sub(1)? * p).div_ceil(100);
        let mut seen = 0;
        for (bucket, count) in &all.counted {
            seen += u64::from(*count);
            if seen > place {
                return Some(lowest_of(*bucket));
            }
        }
        None
    }
}

/// The bucket of a time in ms: the time itself up to 255, then 128 buckets per power of two.
fn bucket_of(ms: u64) -> u16 {
    if ms < 256 {
        return ms as u16;
    }
    let ms = ms.min(u64::from(u32::MAX));
    let power = u64::from(63 - ms.leading_zeros());
    // power is 8 to 31: at most 256 + 23 x 128 + 127.
    (256 + (power - 8) * 128 + ((ms >> (power - 7)) & 127)) as u16
}

/// The lowest time in a bucket.
fn lowest_of(bucket: u16) -> u64 {
    let bucket = u64::from(bucket);
    if bucket < 256 {
        return bucket;
    }
    let power = (bucket - 256) / 128 + 8;
    (128 + (bucket - 256) % 128) << (power - 7)
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

    /// Hands `each` the chunks of `function`'s records on `day` (UTC) one at a time, in time
    /// order, keeping none: how the daily roll-up reads a whole day (10,000 monitors checked every
    /// minute are 360 MB of text a day). By default, [`day_chunks`](Self::day_chunks) in order;
    /// a store that can read a day in pages hands each page's chunks on before the next.
    async fn each_day_chunk(
        &self,
        function: &str,
        day: NaiveDate,
        each: &mut (dyn for<'c> FnMut(&'c str) -> Result<(), StoreError> + Send),
    ) -> Result<(), StoreError> {
        let chunks = self.day_chunks(function, day, None).await?;
        let texts: Vec<&str> = chunks.iter().map(String::as_str).collect();
        for (_, _, text) in in_order(&texts)? {
            each(text)?;
        }
        Ok(())
    }

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

    #[test]
    fn response_times_are_kept_exact_to_255_ms_then_within_one_percent() {
        for ms in [0, 1, 148, 255] {
            assert_eq!(lowest_of(bucket_of(ms)), ms);
        }
        let mut previous = 0;
        let largest = u64::from(u32::MAX);
        for ms in (256..5_000_000).step_by(97).chain([largest, u64::MAX]) {
            let bucket = bucket_of(ms);
            assert!(bucket >= previous, "{ms}: buckets in order");
            previous = bucket;
            let (low, ms) = (lowest_of(bucket), ms.min(largest));
            assert!(low <= ms && ms - low <= ms / 128, "{ms} kept as {low}");
        }
        // Few times, and more than wait at once (counted in many times over).
        let few = vec![250, 3, 17, 200, 17, 99, 250, 1, 40];
        let many: Vec<u64> = (0..1000).map(|i| (i * 37 + i / 7) % 251).collect();
        for times in [few, many] {
            let mut kept = Times::default();
            for &ms in &times {
                kept.add(ms);
            }
            let mut sorted = times.clone();
            sorted.sort_unstable();
            for p in [0, 1, 25, 50, 95, 99, 100] {
                let place = ((sorted.len() as u64 - 1) * p).div_ceil(100) as usize;
                assert_eq!(kept.percentile(p), Some(sorted[place]), "p{p}");
            }
        }
        assert_eq!(Times::default().percentile(50), None);
    }

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
