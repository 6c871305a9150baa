//! The supervisord event listener protocol, over any reader and writer: `READY\n`, then one header
//! line of `key:value` tokens, exactly `len` bytes of payload, and `RESULT 2\nOK` (or `RESULT
//! 4\nFAIL`, which makes supervisord send the event again later). Nothing else is ever written to
//! the output: supervisord would put the listener in the UNKNOWN state.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

/// The largest payload taken (the events lookout subscribes to are a few hundred bytes; a
/// `PROCESS_COMMUNICATION` one is at most supervisord's capture buffer).
pub const MAX_PAYLOAD: usize = 1024 * 1024;

/// The header tokens every notification carries.
const HEADER_KEYS: [&str; 7] = [
    "ver",
    "server",
    "serial",
    "pool",
    "poolserial",
    "eventname",
    "len",
];

/// Why the conversation with supervisord cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// Reading or writing failed.
    #[error("supervisord's pipe failed: {0}")]
    Io(#[from] std::io::Error),
    /// A header that is not the protocol's.
    #[error("not a supervisord event header ({0}): is lookout-agent run as an [eventlistener:x]?")]
    Header(String),
}

/// A notification's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// `eventname` (`PROCESS_STATE_EXITED`).
    pub event: String,
    /// `serial`: the event's number in this supervisord's life.
    pub serial: u64,
    /// `server`: the supervisord's identifier.
    pub server: String,
    /// `len`: the payload's length in bytes.
    pub len: usize,
}

impl Header {
    /// Reads a header line (`ver:3.0 server:supervisor serial:21 pool:listener poolserial:10
    /// eventname:PROCESS_STATE_EXITED len:84`).
    pub fn parse(line: &[u8]) -> Result<Header, ProtocolError> {
        let line = std::str::from_utf8(line)
            .map_err(|_| ProtocolError::Header("not UTF-8".into()))?
            .trim_end_matches(['\n', '\r']);
        let tokens = tokens(line);
        if let Some(missing) = HEADER_KEYS.iter().find(|k| !tokens.contains_key(**k)) {
            return Err(ProtocolError::Header(format!("no `{missing}` in {line:?}")));
        }
        let number = |key: &str| {
            tokens[key]
                .parse::<u64>()
                .map_err(|_| ProtocolError::Header(format!("`{key}` is not a number in {line:?}")))
        };
        let len = usize::try_from(number("len")?).unwrap_or(usize::MAX);
        if len > MAX_PAYLOAD {
            return Err(ProtocolError::Header(format!(
                "a payload of {len} bytes, more than the {MAX_PAYLOAD} taken"
            )));
        }
        Ok(Header {
            event: tokens["eventname"].to_owned(),
            serial: number("serial")?,
            server: tokens["server"].to_owned(),
            len,
        })
    }
}

/// `key:value` tokens separated by spaces; a value may hold colons.
fn tokens(text: &str) -> BTreeMap<&str, &str> {
    text.split_ascii_whitespace()
        .filter_map(|token| token.split_once(':'))
        .collect()
}

/// A program's change of state, as supervisord reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessState {
    /// The state it entered (`EXITED`, `FATAL`, `BACKOFF`, `RUNNING`, ...).
    pub state: String,
    /// `processname`.
    pub process: String,
    /// `groupname`.
    pub group: String,
    /// `from_state`.
    pub from_state: String,
    /// `expected` (EXITED only): whether the exit code was one of the program's `exitcodes`.
    pub expected: Option<bool>,
    /// `pid` (RUNNING, EXITED, STOPPED).
    pub pid: Option<u32>,
}

/// What one notification says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// `PROCESS_STATE_*`.
    Process(ProcessState),
    /// `TICK_5`, `TICK_60`, `TICK_3600`: supervisord is alive.
    Tick,
    /// Anything else: answered, not acted on.
    Other,
}

impl Notification {
    /// Reads a notification from its header and payload.
    pub fn parse(header: &Header, payload: &[u8]) -> Notification {
        let payload = String::from_utf8_lossy(payload);
        if header.event.starts_with("TICK_") {
            return Notification::Tick;
        }
        let Some(state) = header.event.strip_prefix("PROCESS_STATE_") else {
            return Notification::Other;
        };
        // A PROCESS_STATE payload is one line of tokens; a later line would be data.
        let first = payload.lines().next().unwrap_or_default();
        let tokens = tokens(first);
        Notification::Process(ProcessState {
            state: state.to_owned(),
            process: tokens.get("processname").copied().unwrap_or("").to_owned(),
            group: tokens.get("groupname").copied().unwrap_or("").to_owned(),
            from_state: tokens.get("from_state").copied().unwrap_or("").to_owned(),
            expected: tokens.get("expected").map(|e| *e == "1"),
            pid: tokens.get("pid").and_then(|p| p.parse().ok()),
        })
    }
}

/// Speaks the protocol until supervisord closes the pipe: each notification goes to `handle`,
/// and is answered `OK` once `handle` returns `Ok` (the event is kept), `FAIL` otherwise (supervisord
/// sends it again later).
pub fn listen<R: BufRead, W: Write>(
    input: &mut R,
    output: &mut W,
    mut handle: impl FnMut(&Header, Notification) -> std::io::Result<()>,
) -> Result<(), ProtocolError> {
    let mut line = Vec::with_capacity(256);
    loop {
        output.write_all(b"READY\n")?;
        output.flush()?;
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let header = Header::parse(&line)?;
        let mut payload = vec![0; header.len];
        input.read_exact(&mut payload)?;
        let notification = Notification::parse(&header, &payload);
        match handle(&header, notification) {
            Ok(()) => output.write_all(b"RESULT 2\nOK")?,
            Err(error) => {
                tracing::error!(%error, serial = header.serial, "event not kept: supervisord will send it again");
                output.write_all(b"RESULT 4\nFAIL")?;
            }
        }
        output.flush()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_is_read_and_a_bad_one_is_refused() {
        let header = Header::parse(
            b"ver:3.0 server:supervisor serial:21 pool:listener poolserial:10 eventname:PROCESS_STATE_EXITED len:84\n",
        )
        .expect("a header");
        assert_eq!(header.event, "PROCESS_STATE_EXITED");
        assert_eq!((header.serial, header.len), (21, 84));
        for bad in [
            &b"ver:3.0 server:s serial:1 pool:p poolserial:1 eventname:TICK_60\n"[..],
            b"ver:3.0 server:s serial:x pool:p poolserial:1 eventname:TICK_60 len:3\n",
            b"ver:3.0 server:s serial:1 pool:p poolserial:1 eventname:TICK_60 len:99999999\n",
            b"hello\n",
        ] {
            assert!(
                Header::parse(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn process_states_are_read_from_their_payload() {
        let header = Header {
            event: "PROCESS_STATE_EXITED".into(),
            serial: 1,
            server: "supervisor".into(),
            len: 0,
        };
        let read = Notification::parse(
            &header,
            b"processname:api_00 groupname:api from_state:RUNNING expected:0 pid:2766",
        );
        assert_eq!(
            read,
            Notification::Process(ProcessState {
                state: "EXITED".into(),
                process: "api_00".into(),
                group: "api".into(),
                from_state: "RUNNING".into(),
                expected: Some(false),
                pid: Some(2766),
            })
        );
    }
}
