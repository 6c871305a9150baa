//! The agent's spool: events kept on disk until the ingest has them, in the order they came.
//!
//! Each event is a file `<sequence>.json` (twenty digits, so names sort as numbers), written to a
//! temporary name, synced, renamed and its folder synced: once [`Spool::push`] returns, the event
//! survives a crash of the agent or the host. A full spool drops its oldest event and counts it
//! (the count is kept in `dropped`, and reported with every event sent). The folder is listed once,
//! when the spool opens; after that the spool keeps its own queue of what waits.

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

fn sequence_of(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    let digits = name.strip_suffix(".json")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
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
        let sequences = spool.sequences()?;
        let next = sequences.last().map_or(1, |last| last + 1);
        let dropped = fs::read_to_string(spool.dir.join("dropped"))
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(0);
        *spool.lock() = State {
            next,
            dropped,
            waiting: sequences.into(),
        };
        Ok(spool)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn path(&self, sequence: u64) -> PathBuf {
        self.dir.join(format!("{sequence:020}.json"))
    }

    /// Every spooled sequence number, oldest first.
    fn sequences(&self) -> io::Result<Vec<u64>> {
        let mut sequences: Vec<u64> = fs::read_dir(&self.dir)?
            .filter_map(|entry| sequence_of(&entry.ok()?.path()))
            .collect();
        sequences.sort_unstable();
        Ok(sequences)
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
            let mut file = File::create(self.dir.join("dropped"))?;
            writeln!(file, "{}", state.dropped)?;
            file.sync_all()?;
            tracing::warn!(
                dropped = state.dropped,
                capacity = self.capacity,
                "spool full: the oldest events were dropped"
            );
        }
        Ok(sequence)
    }

    /// The oldest event kept, if any.
    pub fn oldest(&self) -> io::Result<Option<Spooled>> {
        let mut state = self.lock();
        while let Some(&sequence) = state.waiting.front() {
            match fs::read_to_string(self.path(sequence)) {
                Ok(body) => return Ok(Some(Spooled { sequence, body })),
                // Gone (removed by hand): the next one.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    state.waiting.pop_front();
                }
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// Forgets an event the ingest has.
    pub fn remove(&self, sequence: u64) -> io::Result<()> {
        let mut state = self.lock();
        match fs::remove_file(self.path(sequence)) {
            // Not found: dropped as the spool filled up.
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        if let Ok(index) = state.waiting.binary_search(&sequence) {
            state.waiting.remove(index);
        }
        Ok(())
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
}
