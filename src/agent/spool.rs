//! The agent's spool: events kept on disk until the ingest has them, in the order they came.
//!
//! Each event is a file `<sequence>.json` (twenty digits, so names sort as numbers), written to a
//! temporary name, synced, renamed and its folder synced: once [`Spool::push`] returns, the event
//! survives a crash of the agent or the host. A full spool drops its oldest event and counts it
//! (the count is kept in `dropped`, written the same way, and reported with every event sent). The
//! folder is listed once, when the spool opens; after that the spool keeps its own queue of what
//! waits.
//!
//! Nothing on disk can stop the queue: a file that cannot be an event (not UTF-8, not a JSON
//! object, a folder, a number past `u64`) is moved aside to `bad/`, counted as dropped and logged
//! once; an event delivered whose file cannot be removed (the file system turned read-only) leaves
//! the queue all the same (sent again after a restart, the ingest keeps it once).

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Events kept at most, by default.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// A spooled event: its file and contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spooled {
    /// Its sequence number.
    pub sequence: u64,
    /// Its JSON.
    pub body: String,
}

/// The spool folder.
pub struct Spool {
    dir: PathBuf,
    capacity: usize,
    /// The next sequence number, the dropped count and the events waiting, behind one lock.
    state: Mutex<State>,
}

/// What the spool knows of its folder: the folder is listed once, when it is opened.
#[derive(Default)]
struct State {
    next: u64,
    dropped: u64,
    /// The sequences waiting, oldest first.
    waiting: VecDeque<u64>,
}

/// Where files that cannot be events are moved.
pub const BAD_DIR: &str = "bad";

/// What a name in the spool folder is.
#[derive(Debug, PartialEq, Eq)]
enum Named {
    /// An event's file.
    Event(u64),
    /// Named like an event, and not one (its number does not fit).
    Bad,
    /// Anything else (a temporary file, `dropped`, `bad/`).
    Other,
}

fn named(path: &Path) -> Named {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return Named::Other;
    };
    let Some(digits) = name.strip_suffix(".json") else {
        return Named::Other;
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Named::Other;
    }
    match digits.parse() {
        Ok(sequence) if digits.len() == 20 => Named::Event(sequence),
        _ => Named::Bad,
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Spool {
    /// Opens (and creates) the spool in `dir`, keeping at most `capacity` events.
    pub fn open(dir: impl Into<PathBuf>, capacity: usize) -> io::Result<Spool> {
        let dir = dir.into();
        fs::create_dir_all(&dir)?;
        let spool = Spool {
            dir,
            capacity: capacity.max(1),
            state: Mutex::new(State::default()),
        };
        let dropped = fs::read_to_string(spool.dir.join("dropped"))
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(0);
        spool.lock().dropped = dropped;
        let sequences = spool.sequences()?;
        let next = sequences.last().map_or(1, |last| last.saturating_add(1));
        let mut state = spool.lock();
        state.next = next;
        state.waiting = sequences.into();
        drop(state);
        Ok(spool)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn path(&self, sequence: u64) -> PathBuf {
        self.dir.join(format!("{sequence:020}.json"))
    }

    /// Every spooled sequence number, oldest first; what is named like an event and cannot be
    /// one is moved aside.
    fn sequences(&self) -> io::Result<Vec<u64>> {
        let mut sequences = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let path = entry?.path();
            match named(&path) {
                Named::Event(sequence) => sequences.push(sequence),
                Named::Bad => self.set_aside(&path, "its number is past what a sequence holds"),
                Named::Other => {}
            }
        }
        sequences.sort_unstable();
        Ok(sequences)
    }

    /// Moves a file that cannot be an event to `bad/` (or, when even that fails, leaves it where
    /// it is, out of the queue), counts it as dropped and says so once.
    fn set_aside(&self, path: &Path, why: &str) {
        let bad = self.dir.join(BAD_DIR);
        let moved = fs::create_dir_all(&bad).and_then(|()| {
            let name = path.file_name().unwrap_or_default();
            fs::rename(path, bad.join(name))
        });
        let mut state = self.lock();
        state.dropped = state.dropped.saturating_add(1);
        let dropped = state.dropped;
        drop(state);
        if let Err(error) = self.write_dropped(dropped) {
            tracing::warn!(%error, "the dropped count could not be kept");
        }
        match moved {
            Ok(()) => {
                tracing::error!(file = %path.display(), reason = why, "a spool file that is not an event was moved to bad/ and counted as dropped")
            }
            Err(error) => {
                tracing::error!(file = %path.display(), reason = why, %error, "a spool file that is not an event could not be moved to bad/: it is skipped and counted as dropped")
            }
        }
    }

    /// Writes the dropped count as events are written: a temporary file, synced, renamed.
    fn write_dropped(&self, dropped: u64) -> io::Result<()> {
        let temporary = self.dir.join(".dropped.tmp");
        {
            let mut file = File::create(&temporary)?;
            writeln!(file, "{dropped}")?;
            file.sync_all()?;
        }
        fs::rename(&temporary, self.dir.join("dropped"))?;
        sync_dir(&self.dir)
    }

    /// Keeps `body` durably, after every event kept before it. A full spool drops its oldest.
    pub fn push(&self, body: &str) -> io::Result<u64> {
        let mut state = self.lock();
        let sequence = state.next;
        let temporary = self.dir.join(format!(".{sequence:020}.tmp"));
        {
            let mut file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&temporary)?;
            file.write_all(body.as_bytes())?;
            file.sync_all()?;
        }
        fs::rename(&temporary, self.path(sequence))?;
        sync_dir(&self.dir)?;
        state.next = sequence + 1;
        state.waiting.push_back(sequence);
        if state.waiting.len() > self.capacity {
            while state.waiting.len() > self.capacity {
                let Some(old) = state.waiting.pop_front() else {
                    break;
                };
                match fs::remove_file(self.path(old)) {
                    Ok(()) => state.dropped += 1,
                    // Gone already (removed by hand).
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            self.write_dropped(state.dropped)?;
            tracing::warn!(
                dropped = state.dropped,
                capacity = self.capacity,
                "spool full: the oldest events were dropped"
            );
        }
        Ok(sequence)
    }

    /// The oldest event kept, if any. A file that cannot be an event is set aside and the next
    /// one read; an error is one of the file system's (the caller waits and asks again).
    pub fn oldest(&self) -> io::Result<Option<Spooled>> {
        loop {
            let Some(sequence) = self.lock().waiting.front().copied() else {
                return Ok(None);
            };
            let path = self.path(sequence);
            let why = match fs::read(&path) {
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(body) if is_event(&body) => return Ok(Some(Spooled { sequence, body })),
                    Ok(_) => "it is not a JSON object",
                    Err(_) => "it is not UTF-8",
                },
                // Gone (removed by hand): the next one.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    self.forget(sequence);
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::IsADirectory || path.is_dir() => {
                    "it is a folder"
                }
                Err(e) => return Err(e),
            };
            self.forget(sequence);
            self.set_aside(&path, why);
        }
    }

    /// Takes a sequence out of the queue.
    fn forget(&self, sequence: u64) {
        let mut state = self.lock();
        if let Ok(index) = state.waiting.binary_search(&sequence) {
            state.waiting.remove(index);
        }
    }

    /// Forgets an event the ingest has: it leaves the queue whatever happens to its file, so a
    /// file that cannot be removed (a read-only file system) is never sent again by this process.
    /// The error says the file is still there.
    pub fn remove(&self, sequence: u64) -> io::Result<()> {
        self.forget(sequence);
        match fs::remove_file(self.path(sequence)) {
            // Not found: dropped as the spool filled up.
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Events dropped because the spool was full, since it was made.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    /// Events waiting.
    pub fn len(&self) -> io::Result<usize> {
        Ok(self.lock().waiting.len())
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
}

/// True for a body the ingest could take as an event: a JSON object.
fn is_event(body: &str) -> bool {
    matches!(
        serde_json::from_str::<serde_json::Value>(body),
        Ok(serde_json::Value::Object(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_out_in_order_survive_a_reopen_and_a_full_spool_drops_the_oldest() {
        let dir = std::env::temp_dir().join(format!("lookout-spool-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let spool = Spool::open(&dir, 3).expect("a spool");
        for n in 1..=2 {
            spool.push(&format!("{{\"n\":{n}}}")).expect("kept");
        }
        drop(spool);
        let spool = Spool::open(&dir, 3).expect("reopened");
        let first = spool.oldest().expect("read").expect("an event");
        assert_eq!(first.body, "{\"n\":1}");
        for n in 3..=5 {
            spool.push(&format!("{{\"n\":{n}}}")).expect("kept");
        }
        assert_eq!(spool.len().expect("listed"), 3);
        assert_eq!(spool.dropped(), 2);
        let oldest = spool.oldest().expect("read").expect("an event");
        assert_eq!(oldest.body, "{\"n\":3}");
        spool.remove(oldest.sequence).expect("removed");
        assert_eq!(
            spool.oldest().expect("read").map(|s| s.body),
            Some("{\"n\":4}".to_owned())
        );
        assert_eq!(Spool::open(&dir, 3).expect("reopened").dropped(), 2);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn files_that_cannot_be_events_are_set_aside_and_the_rest_delivered() {
        let dir = tempfile_dir("bad");
        let spool = Spool::open(&dir, 10).expect("a spool");
        spool.push("{\"n\":1}").expect("kept");
        drop(spool);
        fs::write(dir.join("00000000000000000002.json"), [0xff, 0xfe, b'{']).unwrap();
        fs::write(dir.join("00000000000000000003.json"), "not json").unwrap();
        fs::create_dir(dir.join("00000000000000000004.json")).unwrap();
        fs::write(dir.join("99999999999999999999.json"), "{}").unwrap();
        fs::write(dir.join("00000000000000000005.json"), "{\"n\":5}").unwrap();
        let spool = Spool::open(&dir, 10).expect("reopened");
        assert_eq!(spool.dropped(), 1, "the name past u64 at once");
        let mut delivered = Vec::new();
        while let Some(event) = spool.oldest().expect("never stuck") {
            delivered.push(event.body.clone());
            spool.remove(event.sequence).expect("removed");
        }
        assert_eq!(delivered, ["{\"n\":1}", "{\"n\":5}"]);
        assert_eq!(spool.dropped(), 4);
        let mut aside: Vec<String> = fs::read_dir(dir.join(BAD_DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        aside.sort();
        assert_eq!(aside.len(), 4, "{aside:?}");
        assert_eq!(fs::read_to_string(dir.join("dropped")).unwrap().trim(), "4");
        assert!(!dir.join(".dropped.tmp").exists());
        let _ = fs::remove_dir_all(&dir);
    }

    fn tempfile_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "lookout-spool-{name}-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        let _ = fs::remove_dir_all(&dir);
        dir
    }
}
