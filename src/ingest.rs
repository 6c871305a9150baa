//! The `ingest` function: a Lambda Function URL (payload format 2.0) where hosts and jobs ping,
//! healthchecks.io-style. The token in the path is the secret; each ping is one conditional write,
//! made before the answer, so a `200` means the ping is kept.
//!
//! | request | meaning |
//! |---|---|
//! | `GET/POST/HEAD /ping/<token>` | success |
//! | `/ping/<token>/start` | a run started |
//! | `/ping/<token>/fail` | the job failed |
//! | `/ping/<token>/<0-255>` | exit status: 0 success, anything else failure |
//! | `/ping/<token>/log` | a message only |
//! | `POST /event/<token>` | a program's change of state on the host, from lookout-agent (JSON), for a `supervisor` monitor's token |
//! | `/ping/<ping_key>/<slug>[/start\|/fail\|/log\|/<0-255>]` | the same, naming the monitor by its slug under the stack's ping key |
//! | `/api/push/<token>?status=up\|down&msg=<text>&ping=<ms>` | Uptime Kuma's push: `down` a failure saying `msg`, `up` (or none) a success taking `ping` as its response time; answered `{"ok":true}` |
//!
//! `?rid=<uuid>` on a ping names its run (healthchecks' run ids): a start and an end of one rid
//! make one run, whose duration is kept. A monitor with `methods: post` ignores GET and HEAD pings,
//! and one with keywords lets the body decide (healthchecks' filters); an ignored ping is answered
//! `200` and noted, never counted.
//!
//! Answers: `200` `OK` (also for a ping that adds nothing: a repeat within the monitor's minimum
//! interval, or one older than the last kept), with `Ping-Body-Limit` (the bytes of a body kept),
//! `Access-Control-Allow-Origin: *` and `Cache-Control: no-store`, as healthchecks answers; `404`
//! for an unknown token or slug, the same answer by the same path for every one; `400` for a
//! malformed path or run id, or a resource report lookout does not take (saying what is wrong,
//! quoting none of it); `413` for a body over 1 MB; `405` for another
//! method; `503` when the store could not keep the ping (the sender should try again), counted in
//! the store when it answers, so the heartbeat function knows a silence it caused.
//! An event is kept once, known by its id (a resend, however stamped, is answered `200` and not kept
//! again); a malformed one is `400` with what is wrong, one over 16 KB `413`.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};

use crate::alerting::state;
use crate::checks::SharedLedger;
use crate::checks::heartbeat;
use crate::config::{Env, SetupError};
use crate::pings::{self, Ping, Signal};
use crate::secrets;
use crate::setup::file;

/// The most a ping's body may take.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// How long a ping waits for the store before the sender is told to try again (the function's
/// timeout is 10 s: the answer must still get out).
const STORE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// A monitor a token (or a ping key and a slug) stands for.
#[derive(Debug, Clone)]
struct Known {
    name: String,
    /// The hash its pings are kept under: its token's.
    record: String,
    min_interval: chrono::Duration,
    /// Only POST pings count.
    post_only: bool,
    /// The body decides the signal.
    keywords: Option<heartbeat::Keywords>,
}

/// The ingest function's state: the heartbeat monitors (pings) and the supervisor monitors
/// (events) by token hash, and the store.
pub struct Ingest {
    monitors: HashMap<String, Known>,
    programs: HashMap<String, String>,
    store: SharedLedger,
}

/// An answer to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// A word or a sentence for the sender (never the token).
    pub body: String,
    /// The methods the path takes, said with a 405.
    pub allow: &'static str,
    /// Said as Uptime Kuma says it: `{"ok": ..., "msg": ...}`.
    pub kuma: bool,
}

impl Answer {
    fn new(status: u16, body: impl Into<String>) -> Self {
        Answer {
            status,
            body: body.into(),
            allow: "GET, POST, HEAD",
            kuma: false,
        }
    }

    /// The same answer in Uptime Kuma's words.
    fn in_kumas_words(self) -> Self {
        Answer { kuma: true, ..self }
    }

    /// The Function URL response (payload format 2.0).
    pub fn to_response(&self, head: bool) -> Value {
        let mut headers = json!({
            "content-type": if self.kuma { "application/json" } else { "text/plain; charset=utf-8" },
            "cache-control": "no-store",
            "access-control-allow-origin": "*",
            "ping-body-limit": pings::MAX_OUTPUT_BYTES.to_string(),
        });
        if self.status == 405 {
            headers["allow"] = json!(self.allow);
        }
        if self.status == 503 {
            headers["retry-after"] = json!("5");
        }
        let body = if head {
            String::new()
        } else if self.kuma && self.status == 200 {
            json!({"ok": true}).to_string()
        } else if self.kuma {
            json!({"ok": false, "msg": self.body}).to_string()
        } else {
            self.body.clone()
        };
        json!({"statusCode": self.status, "headers": headers, "body": body})
    }
}

/// Whom a ping names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who<'a> {
    /// A monitor's token.
    Token(&'a str),
    /// The stack's ping key and a monitor's slug.
    Slug { key: &'a str, slug: &'a str },
}

impl Who<'_> {
    /// The hash a monitor is looked up by: its token's, or its ping key and slug's.
    fn hash(&self) -> String {
        match self {
            Who::Token(token) => pings::token_hash(token),
            Who::Slug { key, slug } => slug_hash(key, slug),
        }
    }
}

/// The hash a monitor is known by under the ping key `key` and its `slug`.
fn slug_hash(key: &str, slug: &str) -> String {
    pings::token_hash(&format!("{key}/{slug}"))
}

/// What a ping's path asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route<'a> {
    /// Whom it names.
    pub who: Who<'a>,
    /// What it says.
    pub signal: Signal,
    /// The exit status, when the path gave one.
    pub exit_status: Option<u8>,
}

/// Reads a ping's path: `Err` is the answer to give instead.
pub fn route(path: &str) -> Result<Route<'_>, Answer> {
    let malformed = |why: &str| {
        Answer::new(
            400,
            format!(
                "malformed ping URL ({why}): use /ping/<token>[/start|/fail|/log|/<0-255>] or /ping/<ping_key>/<slug>[/...]"
            ),
        )
    };
    let path = path.strip_suffix('/').unwrap_or(path);
    let Some(rest) = path
        .strip_prefix("/ping")
        .filter(|rest| rest.is_empty() || rest.starts_with('/'))
    else {
        return Err(Answer::new(404, "not found: pings go to /ping/<token>"));
    };
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    if path.contains('%') {
        return Err(malformed("percent-encoded characters are not taken"));
    }
    if path.contains("..") || path.contains("//") {
        return Err(malformed("empty or dot-dot segments are not taken"));
    }
    let parts: Vec<&str> = rest.split('/').collect();
    let token = parts[0];
    if !is_token_shaped(token) {
        return Err(malformed("a token is letters, digits, - . _ and ~"));
    }
    let is_action = |part: &str| {
        matches!(part, "start" | "fail" | "log")
            || (!part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
    };
    let (who, action) = match parts[..] {
        [_] => (Who::Token(token), None),
        [_, second] if is_action(second) => (Who::Token(token), Some(second)),
        [_, slug] | [_, slug, _] => {
            if !slug
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
                || slug.is_empty()
                || slug.len() > 100
            {
                return Err(malformed("unknown action"));
            }
            if slug.bytes().any(|b| b.is_ascii_uppercase()) {
                return Err(malformed("a slug is lower case"));
            }
            (Who::Slug { key: token, slug }, parts.get(2).copied())
        }
        _ => return Err(malformed("too many segments")),
    };
    let (signal, exit_status) = match action {
        None => (Signal::Success, None),
        Some("start") => (Signal::Start, None),
        Some("fail") => (Signal::Fail, None),
        Some("log") => (Signal::Log, None),
        Some(code) if !code.is_empty() && code.bytes().all(|b| b.is_ascii_digit()) => {
            match code.parse::<u8>().ok().filter(|_| code.len() <= 3) {
                Some(0) => (Signal::Success, Some(0)),
                Some(status) => (Signal::Fail, Some(status)),
                None => return Err(malformed("an exit status is 0 to 255")),
            }
        }
        Some(_) => return Err(malformed("unknown action")),
    };
    Ok(Route {
        who,
        signal,
        exit_status,
    })
}

/// Reads `/api/push/<token>` (Uptime Kuma's push URL): the token, or the answer to give instead.
fn push_token(path: &str) -> Result<&str, Answer> {
    let token = path
        .strip_prefix("/api/push/")
        .map(|t| t.strip_suffix('/').unwrap_or(t))
        .unwrap_or_default();
    if !is_token_shaped(token) || token.contains("..") {
        return Err(Answer::new(
            400,
            "malformed push URL: use /api/push/<token>?status=up|down&msg=<text>&ping=<ms>",
        )
        .in_kumas_words());
    }
    Ok(token)
}

/// The value of `name` in a query string (the first, percent-decoded).
fn query_value(query: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// True when a path segment could be a token (its characters, at most 256 of them): a malformed
/// one is a 400, a well-formed unknown one the same 404 as every other, whatever its length. A
/// path holding `..` is refused before (and [`pings::is_token`] refuses a token holding it, so no
/// configured token is ever refused here).
fn is_token_shaped(token: &str) -> bool {
    !token.is_empty() && token.len() <= 256 && token.chars().all(pings::is_token_char)
}

/// The parts of a Function URL event a ping needs.
struct Request<'a> {
    method: &'a str,
    path: &'a str,
    query: &'a str,
    at: DateTime<Utc>,
    body: Vec<u8>,
}

fn request(event: &Value) -> Result<Request<'_>, Answer> {
    let not_url = || Answer::new(400, "not a Function URL request (payload format 2.0)");
    let method = event
        .pointer("/requestContext/http/method")
        .and_then(Value::as_str)
        .ok_or_else(not_url)?;
    let path = event
        .get("rawPath")
        .and_then(Value::as_str)
        .ok_or_else(not_url)?;
    let at = event
        .pointer("/requestContext/timeEpoch")
        .and_then(Value::as_i64)
        .and_then(DateTime::from_timestamp_millis)
        .ok_or_else(not_url)?;
    let body = match event.get("body").and_then(Value::as_str) {
        None => Vec::new(),
        Some(text) if event.get("isBase64Encoded") == Some(&Value::Bool(true)) => {
            // Base64 takes 4 characters for 3 bytes: a body that long is over the limit anyway.
            if text.len() / 4 * 3 > MAX_BODY_BYTES + 3 {
                return Err(too_large());
            }
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| Answer::new(400, "the body is not valid base64"))?
        }
        Some(text) => text.as_bytes().to_vec(),
    };
    if body.len() > MAX_BODY_BYTES {
        return Err(too_large());
    }
    Ok(Request {
        method,
        path,
        query: event
            .get("rawQueryString")
            .and_then(Value::as_str)
            .unwrap_or_default(),
        at,
        body,
    })
}

fn too_large() -> Answer {
    Answer::new(
        413,
        "the body is over 1 MB: send the end of the output (tail -c 10000)",
    )
}

impl Ingest {
    /// The ingest function of these heartbeat monitors and supervisor monitors (name and token
    /// hash), keeping pings and events in `store`.
    pub fn new(
        monitors: Vec<(String, heartbeat::Heartbeat)>,
        programs: Vec<(String, String)>,
        store: SharedLedger,
    ) -> Self {
        Self::with_ping_key(monitors, programs, store, None)
    }

    /// The same, each heartbeat monitor also known by its slug under the stack's `ping_key`.
    pub fn with_ping_key(
        monitors: Vec<(String, heartbeat::Heartbeat)>,
        programs: Vec<(String, String)>,
        store: SharedLedger,
        ping_key: Option<&crate::config::Secret>,
    ) -> Self {
        let mut known = HashMap::new();
        for (name, h) in monitors {
            let monitor = Known {
                record: h.token_hash.clone(),
                min_interval: chrono::Duration::from_std(h.min_interval)
                    .unwrap_or(chrono::Duration::MAX),
                post_only: h.post_only,
                keywords: h.keywords.clone(),
                name,
            };
            if let Some(key) = ping_key {
                let slug = h
                    .slug
                    .clone()
                    .unwrap_or_else(|| heartbeat::default_slug(&monitor.name));
                known.insert(slug_hash(key.expose(), &slug), monitor.clone());
            }
            known.insert(h.token_hash, monitor);
        }
        Ingest {
            monitors: known,
            programs: programs
                .into_iter()
                .map(|(name, hash)| (hash, name))
                .collect(),
            store,
        }
    }

    /// Answers one Function URL event: the response, whatever the request.
    pub async fn handle(&self, event: &Value) -> Value {
        let head = event
            .pointer("/requestContext/http/method")
            .and_then(Value::as_str)
            == Some("HEAD");
        self.answer(event).await.to_response(head)
    }

    /// The answer to one event.
    pub async fn answer(&self, event: &Value) -> Answer {
        let request = match request(event) {
            Ok(request) => request,
            Err(answer) => return answer,
        };
        if request.path == "/event" || request.path.starts_with("/event/") {
            return self.event(&request).await;
        }
        if request.path.starts_with("/api/push/") {
            return self.push(request).await.in_kumas_words();
        }
        if !matches!(request.method, "GET" | "POST" | "HEAD") {
            return Answer::new(405, "pings are GET, POST or HEAD");
        }
        let route = match route(request.path) {
            Ok(route) => route,
            Err(answer) => return answer,
        };
        let rid = match query_value(request.query, "rid") {
            None => None,
            Some(text) => match pings::run_id(&text) {
                Some(rid) => Some(rid),
                None => {
                    return Answer::new(
                        400,
                        "malformed rid: a run id is a UUID, like 3f2b8c1e-5d4a-4f8e-9b2c-1a2b3c4d5e6f",
                    );
                }
            },
        };
        // Every unknown token or slug, short or long, takes this same path to the same answer.
        let Some(known) = self.monitors.get(&route.who.hash()) else {
            tracing::info!("a ping with an unknown token: 404");
            return Answer::new(404, "not found: no monitor has this token");
        };
        self.keep(known, &request, route.signal, route.exit_status, rid, None)
            .await
    }

    /// `/api/push/<token>`: Uptime Kuma's push, as a ping of the monitor the token names.
    async fn push(&self, mut request: Request<'_>) -> Answer {
        if !matches!(request.method, "GET" | "POST" | "HEAD") {
            return Answer::new(405, "pushes are GET or POST");
        }
        let token = match push_token(request.path) {
            Ok(token) => token,
            Err(answer) => return answer,
        };
        let Some(known) = self.monitors.get(&pings::token_hash(token)) else {
            tracing::info!("a push with an unknown token: 404");
            return Answer::new(404, "Monitor not found or not active.");
        };
        let signal = match query_value(request.query, "status").as_deref() {
            None | Some("up") => Signal::Success,
            Some("down") => Signal::Fail,
            Some(_) => return Answer::new(400, "status is up or down"),
        };
        // As Kuma reads it: a number of milliseconds, anything else none.
        let ms = query_value(request.query, "ping")
            .and_then(|p| p.trim().parse::<f64>().ok())
            .filter(|ms| ms.is_finite() && (0.0..=1e11).contains(ms))
            .map(|ms| ms.round() as u64);
        if let Some(msg) =
            query_value(request.query, "msg").filter(|m| !m.trim().is_empty() && m != "OK")
        {
            request.body = msg.into_bytes();
        }
        self.keep(known, &request, signal, None, None, ms).await
    }

    /// Keeps a ping of `known`: its signal as the monitor's methods and keywords have it.
    async fn keep(
        &self,
        known: &Known,
        request: &Request<'_>,
        signal: Signal,
        exit_status: Option<u8>,
        rid: Option<String>,
        ms: Option<u64>,
    ) -> Answer {
        let hash = &known.record;
        let signal = if known.post_only && request.method != "POST" {
            Signal::Ignored
        } else if let Some(keywords) = &known.keywords {
            keywords.signal_of(&String::from_utf8_lossy(&request.body))
        } else {
            signal
        };
        // lookout-agent's report is the host's figures, not a job's output; one that is not a
        // report lookout takes is refused whole (its names would become incidents and text).
        let resources = match pings::Resources::of_body(&request.body).transpose() {
            Ok(resources) => resources,
            Err(why) => {
                tracing::info!(monitor = %known.name, "a malformed report: 400");
                return Answer::new(400, format!("malformed report: {why}"));
            }
        };
        let ping = Ping {
            signal,
            exit_status: exit_status.filter(|_| signal.ends_a_run()),
            at: request.at,
            output: match resources {
                Some(_) => None,
                None => pings::output_of(&request.body),
            },
            resources,
            rid,
            ms,
        };
        let written =
            within_store_wait(
                self.store
                    .record_ping(hash, &known.name, &ping, known.min_interval),
            )
            .await;
        match written {
            Ok(kept) => {
                tracing::info!(monitor = %known.name, signal = ping.signal.as_str(), kept, "ping");
                Answer::new(200, "OK")
            }
            Err(error) => {
                tracing::error!(monitor = %known.name, %error, "could not keep a ping");
                self.count_refusal(request.at).await;
                Answer::new(503, "the ping could not be kept: try again")
            }
        }
    }

    /// `POST /event/<token>`: a program's change of state, kept once under the token's hash.
    async fn event(&self, request: &Request<'_>) -> Answer {
        if request.method != "POST" {
            return Answer {
                allow: "POST",
                ..Answer::new(405, "events are POSTed")
            };
        }
        let path = request.path.strip_suffix('/').unwrap_or(request.path);
        let token = path.strip_prefix("/event/").unwrap_or_default();
        if !is_token_shaped(token) || token.contains("..") {
            return Answer::new(400, "malformed event URL: use POST /event/<token>");
        }
        // The same path for every unknown token as for pings.
        let hash = pings::token_hash(token);
        let Some(monitor) = self.programs.get(&hash) else {
            tracing::info!("an event with an unknown token: 404");
            return Answer::new(404, "not found: no monitor has this token");
        };
        if request.body.len() > crate::events::MAX_EVENT_BYTES {
            return Answer::new(413, "an event is at most 16 KB");
        }
        let event = match crate::events::ProcessEvent::parse(&request.body, request.at) {
            Ok(event) => event,
            Err(why) => return Answer::new(400, format!("malformed event: {why}")),
        };
        let expires = event.expires(request.at);
        match within_store_wait(self.store.record_event(&hash, &event, expires)).await {
            Ok(kept) => {
                tracing::info!(%monitor, process = %event.process, state = %event.state, kept, "event");
                Answer::new(200, "OK")
            }
            Err(error) => {
                tracing::error!(%monitor, %error, "could not keep an event");
                self.count_refusal(request.at).await;
                Answer::new(503, "the event could not be kept: try again")
            }
        }
    }

    /// Counts a 5xx answer in the store, when the store answers now (a store that could not keep
    /// the ping may still take this), so the heartbeat function knows silence it caused is not
    /// the hosts'. Bounded in time: the answer must still get out.
    async fn count_refusal(&self, at: DateTime<Utc>) {
        let counted =
            tokio::time::timeout(REFUSAL_WAIT, self.store.record_ingest_refusal(at)).await;
        if !matches!(counted, Ok(Ok(()))) {
            tracing::warn!("the refusal could not be counted in the store either");
        }
    }
}

/// A store call, given at most [`STORE_WAIT`].
async fn within_store_wait<T>(
    call: impl std::future::Future<Output = Result<T, state::StoreError>>,
) -> Result<T, state::StoreError> {
    tokio::time::timeout(STORE_WAIT, call)
        .await
        .unwrap_or_else(|_| {
            Err(state::StoreError::Unavailable(
                "the state store did not answer in time".into(),
            ))
        })
}

/// How long counting a refusal may take.
const REFUSAL_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Everything the function needs, built once at cold start.
async fn build(in_lambda: bool) -> Result<Ingest, SetupError> {
    let env = secrets::with_secret(Env::from_process()).await?;
    let file = file::from_env(&env)?;
    let declared = |kind| file.as_ref().and_then(|f| f.declared(kind));
    let defaults = file.as_ref().map_or(&env, |f| &f.defaults);
    let monitors = heartbeat::monitors(defaults, declared(&heartbeat::TYPE))?;
    let programs = crate::checks::supervisor::monitors(declared(&crate::checks::supervisor::TYPE))?;
    let store: state::SharedStore = Arc::from(state::from_env(&env, in_lambda).await?);
    let store: SharedLedger = store;
    tracing::info!(
        heartbeats = monitors.len(),
        supervisors = programs.len(),
        "monitors read"
    );
    let ping_key = heartbeat::ping_key(defaults)?;
    Ok(Ingest::with_ping_key(
        monitors,
        programs,
        store,
        ping_key.as_ref(),
    ))
}

/// The `ingest` binary's `main`: the Lambda loop, or, on a laptop, one ping given as arguments
/// (`ingest GET /ping/<token>/start`, the body on standard input when it is not a terminal).
pub fn main(args: &[String]) -> ExitCode {
    let args = args.to_vec();
    crate::function::launch("ingest", build, |ingest, in_lambda| async move {
        if in_lambda {
            serve(Arc::new(ingest)).await
        } else {
            ping_once(&ingest, &args).await
        }
    })
}

async fn serve(ingest: Arc<Ingest>) -> ExitCode {
    let handler = service_fn(move |event: LambdaEvent<Value>| {
        let ingest = Arc::clone(&ingest);
        crate::function::guarded(async move { Ok(ingest.handle(&event.payload).await) })
    });
    match lambda_runtime::run(handler).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "the Lambda runtime loop stopped");
            ExitCode::FAILURE
        }
    }
}

/// A local ping: `ingest [METHOD] /ping/<token>[/...]`, recorded in the local state file.
async fn ping_once(ingest: &Ingest, args: &[String]) -> ExitCode {
    let (method, path) = match args {
        [path] => ("POST", path.as_str()),
        [method, path] => (method.as_str(), path.as_str()),
        _ => {
            eprintln!(
                "ingest answers the stack's Function URL (IngestUrl). Locally, record one ping: ingest [GET|POST] /ping/<token>[/start|/fail|/log|/<exit status>] (the body from standard input)"
            );
            return ExitCode::FAILURE;
        }
    };
    let mut body = Vec::new();
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        let mut stdin = std::io::Read::take(std::io::stdin(), MAX_BODY_BYTES as u64 + 1);
        let _ = std::io::Read::read_to_end(&mut stdin, &mut body);
    }
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let event = json!({
        "version": "2.0",
        "rawPath": path,
        "rawQueryString": query,
        "requestContext": {"http": {"method": method}, "timeEpoch": Utc::now().timestamp_millis()},
        "body": base64::engine::general_purpose::STANDARD.encode(&body),
        "isBase64Encoded": true,
    });
    let answer = ingest.answer(&event).await;
    println!("{} {}", answer.status, answer.body);
    if answer.status == 200 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_of_the_protocol_reads() {
        let token = "0123456789abcdef";
        let read = |path: &str| route(path).map(|r| (r.signal, r.exit_status));
        assert_eq!(read(&format!("/ping/{token}")), Ok((Signal::Success, None)));
        assert_eq!(
            read(&format!("/ping/{token}/")),
            Ok((Signal::Success, None))
        );
        assert_eq!(
            read(&format!("/ping/{token}/start")),
            Ok((Signal::Start, None))
        );
        assert_eq!(
            read(&format!("/ping/{token}/fail")),
            Ok((Signal::Fail, None))
        );
        assert_eq!(read(&format!("/ping/{token}/log")), Ok((Signal::Log, None)));
        assert_eq!(
            read(&format!("/ping/{token}/0")),
            Ok((Signal::Success, Some(0)))
        );
        assert_eq!(
            read(&format!("/ping/{token}/255")),
            Ok((Signal::Fail, Some(255)))
        );
        for bad in [
            format!("/ping/{token}/256"),
            format!("/ping/{token}/0001"),
            format!("/ping/{token}/Backup"),
            format!("/ping/{token}/backup/stop"),
            format!("/ping/{token}/a/start/x"),
            format!("/ping/{token}%2Fstart"),
            format!("/ping/../{token}"),
            format!("/ping/{token}/.."),
            format!("/ping//{token}"),
            "/ping/".to_owned(),
            "/ping/tok$en".to_owned(),
        ] {
            let answer = route(&bad).unwrap_err();
            assert_eq!(answer.status, 400, "{bad}: {answer:?}");
            assert!(!answer.body.contains(token), "{bad}: {answer:?}");
        }
        // A second segment that is no action names a monitor by its slug under the ping key.
        for (path, slug, signal) in [
            (format!("/ping/{token}/backup"), "backup", Signal::Success),
            (format!("/ping/{token}/stop"), "stop", Signal::Success),
            (format!("/ping/{token}/-1"), "-1", Signal::Success),
            (
                format!("/ping/{token}/nightly_db-2/start"),
                "nightly_db-2",
                Signal::Start,
            ),
        ] {
            let read = route(&path).unwrap();
            assert_eq!(read.who, Who::Slug { key: token, slug }, "{path}");
            assert_eq!(read.signal, signal);
        }
        assert_eq!(route("/").unwrap_err().status, 404);
        assert_eq!(route("/pingx/abc").unwrap_err().status, 404);
    }

    /// A store that cannot keep pings or events (throttled, say) and takes everything else.
    struct Refusing(state::memory::MemoryStore);

    /// The ingest sees only the ledger: that is all a test store must be.
    #[async_trait::async_trait]
    impl crate::ledger::Ledger for Refusing {
        async fn record_ping(
            &self,
            _: &str,
            _: &str,
            _: &Ping,
            _: chrono::Duration,
        ) -> Result<bool, state::StoreError> {
            Err(state::StoreError::Unavailable("throttled".into()))
        }
        async fn pings(
            &self,
            h: &[String],
        ) -> Result<HashMap<String, pings::PingRecord>, state::StoreError> {
            self.0.pings(h).await
        }
        async fn record_event(
            &self,
            _: &str,
            _: &crate::events::ProcessEvent,
            _: DateTime<Utc>,
        ) -> Result<bool, state::StoreError> {
            Err(state::StoreError::Unavailable("throttled".into()))
        }
        async fn events(
            &self,
            h: &str,
        ) -> Result<Vec<crate::events::ProcessEvent>, state::StoreError> {
            self.0.events(h).await
        }
        async fn record_ingest_refusal(&self, at: DateTime<Utc>) -> Result<(), state::StoreError> {
            self.0.record_ingest_refusal(at).await
        }
        async fn ingest_refusals(
            &self,
            since: DateTime<Utc>,
        ) -> Result<Vec<(DateTime<Utc>, u64)>, state::StoreError> {
            self.0.ingest_refusals(since).await
        }
    }

    #[tokio::test]
    async fn a_ping_answered_503_is_counted_in_the_store_when_it_answers() {
        let token = "0123456789abcdef";
        let env = Env::from_pairs([("HEARTBEAT_TOKEN", token)]);
        let heartbeat = heartbeat::Heartbeat::read(&env).unwrap();
        let store: SharedLedger = Arc::new(Refusing(state::memory::MemoryStore::default()));
        let ingest = Ingest::new(
            vec![("web-1".into(), heartbeat)],
            Vec::new(),
            Arc::clone(&store),
        );
        let at = DateTime::from_timestamp(1_796_500_000, 0).unwrap();
        let event = json!({
            "version": "2.0", "rawPath": format!("/ping/{token}"),
            "requestContext": {"http": {"method": "GET"}, "timeEpoch": at.timestamp_millis()},
        });
        for _ in 0..2 {
            assert_eq!(ingest.answer(&event).await.status, 503);
        }
        assert_eq!(
            store.ingest_refusals(at).await.unwrap(),
            vec![(state::minute_of(at), 2)]
        );
    }
}
