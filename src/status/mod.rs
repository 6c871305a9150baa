//! The `status` function: the status page, its JSON and its badges, behind a Function URL of its
//! own (a busy page never takes the ingest's concurrency). The page reads what the other functions
//! keep: the public monitors' roll-ups, the last two days of history, and their incidents. The one
//! thing it writes is an answer to an alert (`act.rs`): one conditional write on that incident.
//!
//! | request | answer |
//! |---|---|
//! | `GET /` | the page (HTML) |
//! | `GET /status.json` | the page's figures (docs/status-page.md) |
//! | `GET /monitor/<name>` | one monitor: its 90 days, a 7-day response chart, its incidents |
//! | `GET /monitor/<name>.json` | the same, for machines |
//! | `GET /badge/<name>.svg?type=status\|uptime\|response&period=24h\|7d\|30d\|90d` | a badge |
//! | `GET /act/<token>`, `POST /act/<token>` | an answer link's page, and its button (`act.rs`) |
//!
//! Only monitors with `public: true` exist here: any other name is `404`, as an unknown one is.
//! With a token (`status_page.token`) every answer asks for it (`?token=` or `Authorization:
//! Bearer`), `401` otherwise, compared by its hash in the same time for every wrong one (an answer
//! link carries its own signed token instead). Other methods are `405` (but `POST` on `/act/`); a
//! `GET` changes nothing. The page drawn from the store is kept 30 s in the instance; answers over
//! 1 KB are gzipped for a client that takes gzip.

pub mod act;
pub mod badge;
pub mod cli;
pub mod html;
pub mod view;

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::alerting::lifecycle::Status;
use crate::alerting::render::Style;
use crate::alerting::state::{self, SharedStore};
use crate::config::{Env, SetupError, read};
use crate::history::Record;
use crate::ledger::StoreError;
use crate::secrets;
use crate::setup::{StatusPage, file};
use view::{Inputs, Listed, Open, Page, Recent};

/// The most of a base64 body that is decoded (a form of [`act::MAX_FORM_BYTES`]).
const MAX_FORM_BASE64: usize = act::MAX_FORM_BYTES / 3 * 4 + 4;
/// How long what the store gave is kept in the instance.
const CACHE: Duration = Duration::from_secs(30);
/// The longest path looked at.
const MAX_PATH: usize = 512;

/// What was read, and when.
type Kept<T> = Mutex<Option<(Instant, Arc<T>)>>;

/// The status function's state, built at cold start.
pub struct StatusSite {
    monitors: Vec<Listed>,
    look: html::Look,
    token_hash: Option<[u8; 32]>,
    store: SharedStore,
    /// Checks the answer links' tokens (when the stack's action key is set).
    signer: Option<crate::alerting::answers::Signer>,
    cache: Kept<Page>,
    /// The main page's HTML, drawn from the kept page (with the site's own look): every view in
    /// the 30 s answers it without drawing again.
    drawn: Mutex<Option<(Arc<Page>, String)>>,
    weeks: Mutex<HashMap<String, Kept<Vec<Record>>>>,
}

/// An answer: status, content type, cache policy, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// `content-type`.
    pub content_type: &'static str,
    /// `cache-control`.
    pub cache: &'static str,
    /// The body.
    pub body: String,
    /// Headers of its own (`location`, `allow`), and whether it holds a form that posts to this
    /// host.
    pub extra: Extra,
}

/// What an answer adds to the headers every answer has.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Extra {
    /// `location` (a 303).
    pub location: Option<String>,
    /// `allow` (a 405).
    pub allow: Option<&'static str>,
    /// The page posts a form to this host (`form-action 'self'`).
    pub form: bool,
}

impl Answer {
    fn text(status: u16, body: &str) -> Self {
        Answer {
            status,
            content_type: "text/plain; charset=utf-8",
            cache: "no-store",
            body: format!("{body}\n"),
            extra: Extra::default(),
        }
    }

    fn html(status: u16, body: String) -> Self {
        Answer {
            status,
            content_type: "text/html; charset=utf-8",
            cache: "public, max-age=30",
            body,
            extra: Extra::default(),
        }
    }

    /// The browser is sent to `location` to GET it (after a POST).
    fn see_other(location: &str) -> Self {
        let mut answer = Answer::text(303, "see other");
        answer.extra.location = Some(location.to_owned());
        answer
    }

    fn no_store(self) -> Self {
        Answer {
            cache: "no-store",
            ..self
        }
    }

    fn with_form(mut self) -> Self {
        self.extra.form = true;
        self
    }

    fn allowing(mut self, methods: &'static str) -> Self {
        self.extra.allow = Some(methods);
        self
    }

    /// The Function URL response (payload format 2.0); a body of more than 1 KB is gzipped (and
    /// base64, as Lambda takes a binary body) when the client takes gzip.
    pub fn to_response(&self, head: bool, gzip: bool) -> Value {
        let form_action = if self.extra.form { "'self'" } else { "'none'" };
        let mut headers = json!({
            "content-type": self.content_type,
            "cache-control": self.cache,
            "x-content-type-options": "nosniff",
            "content-security-policy": format!("default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action {form_action}; frame-ancestors 'none'"),
            "referrer-policy": "no-referrer",
        });
        match self.status {
            401 => headers["www-authenticate"] = json!("Bearer"),
            405 => headers["allow"] = json!(self.extra.allow.unwrap_or("GET, HEAD")),
            _ => {}
        }
        if let Some(location) = &self.extra.location {
            headers["location"] = json!(location);
        }
        headers["vary"] = json!("accept-encoding");
        if head {
            return json!({"statusCode": self.status, "headers": headers, "body": ""});
        }
        if gzip && self.body.len() > 1024 {
            use base64::Engine as _;
            use std::io::Write as _;
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            if encoder.write_all(self.body.as_bytes()).is_ok()
                && let Ok(zipped) = encoder.finish()
            {
                headers["content-encoding"] = json!("gzip");
                return json!({
                    "statusCode": self.status,
                    "headers": headers,
                    "body": base64::engine::general_purpose::STANDARD.encode(zipped),
                    "isBase64Encoded": true,
                });
            }
        }
        json!({"statusCode": self.status, "headers": headers, "body": self.body})
    }
}

/// Whether an `Accept-Encoding` value takes gzip: named (or `*`) without `q=0`.
fn takes_gzip(accepted: &str) -> bool {
    accepted.split(',').any(|coding| {
        let mut parts = coding.split(';');
        let name = parts.next().unwrap_or_default().trim();
        let refused = parts.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q == 0.0)
        });
        (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
    })
}

/// A request, as much of it as the page needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Request {
    /// `GET`, `HEAD`, …
    pub method: String,
    /// The path.
    pub path: String,
    /// The query's pairs.
    pub query: Vec<(String, String)>,
    /// `Authorization`.
    pub authorization: Option<String>,
    /// Whether the client takes a gzip body (`Accept-Encoding`).
    pub gzip: bool,
    /// The body (a form's fields), at most [`act::MAX_FORM_BYTES`].
    pub body: String,
    /// `Origin`, when the browser sent it.
    pub origin: Option<String>,
    /// `Sec-Fetch-Site`, when the browser sent it.
    pub fetch_site: Option<String>,
    /// `Host`: this function's own address.
    pub host: Option<String>,
}

impl Request {
    /// From a Function URL event (payload format 2.0).
    pub fn of(event: &Value) -> Option<Request> {
        let method = event.pointer("/requestContext/http/method")?.as_str()?;
        let path = event.get("rawPath")?.as_str()?;
        let query = event
            .get("rawQueryString")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let header = |name: &str| {
            event
                .pointer(&format!("/headers/{name}"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let raw = event
            .get("body")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let body = if event.get("isBase64Encoded") == Some(&Value::Bool(true)) {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(raw.get(..MAX_FORM_BASE64).unwrap_or(raw))
                .ok()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        } else {
            raw.to_owned()
        };
        let mut end = body.len().min(act::MAX_FORM_BYTES);
        while !body.is_char_boundary(end) {
            end -= 1;
        }
        Some(Request {
            method: method.to_owned(),
            path: path.to_owned(),
            query: url::form_urlencoded::parse(query.as_bytes())
                .take(16)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
            authorization: event
                .pointer("/headers/authorization")
                .and_then(Value::as_str)
                .map(str::to_owned),
            gzip: event
                .pointer("/headers/accept-encoding")
                .and_then(Value::as_str)
                .is_some_and(takes_gzip),
            body: body[..end].to_owned(),
            origin: header("origin"),
            fetch_site: header("sec-fetch-site"),
            host: header("host"),
        })
    }

    /// A field of the form it carries (`application/x-www-form-urlencoded`).
    fn form(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.body.as_bytes())
            .take(8)
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The token it carries: `?token=`, else `Authorization: Bearer`.
    fn token(&self) -> Option<&str> {
        self.query("token").or_else(|| {
            // The scheme's name is case-insensitive (RFC 9110).
            let authorization = self.authorization.as_deref()?;
            let (scheme, token) = authorization.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
    }
}

/// What a path asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Page,
    PageJson,
    Monitor(String),
    MonitorJson(String),
    Badge(String),
}

fn route(path: &str) -> Option<Route> {
    if path.len() > MAX_PATH {
        return None;
    }
    let name = |raw: &str| -> Option<String> {
        let name = percent_encoding::percent_decode_str(raw)
            .decode_utf8()
            .ok()?
            .into_owned();
        (!name.is_empty() && !name.contains('/')).then_some(name)
    };
    match path {
        "/" | "" => Some(Route::Page),
        "/status.json" => Some(Route::PageJson),
        _ => {
            if let Some(rest) = path.strip_prefix("/badge/") {
                return Some(Route::Badge(name(rest.strip_suffix(".svg")?)?));
            }
            let rest = path.strip_prefix("/monitor/")?;
            match rest.strip_suffix(".json") {
                Some(raw) => Some(Route::MonitorJson(name(raw)?)),
                None => Some(Route::Monitor(name(rest.trim_end_matches('/'))?)),
            }
        }
    }
}

/// Equal in the same time whatever the bytes.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl StatusSite {
    /// A site of these public monitors, read from `store`.
    pub fn new(
        monitors: Vec<Listed>,
        look: html::Look,
        token: Option<&str>,
        store: SharedStore,
    ) -> Self {
        StatusSite {
            monitors,
            look,
            token_hash: token.map(hash),
            store,
            signer: None,
            cache: Mutex::new(None),
            drawn: Mutex::new(None),
            weeks: Mutex::new(HashMap::new()),
        }
    }

    /// The site a configuration describes: the public monitors of `lookout.yaml`, and its
    /// `status_page`.
    pub fn of(
        file: Option<&file::LookoutFile>,
        env: &Env,
        store: SharedStore,
    ) -> Result<Self, SetupError> {
        let page_env = file.map_or(env, |f| &f.status_page);
        let page: StatusPage = read::settings(page_env)?;
        let style = Style::from_env(page_env)?;
        let monitors: Vec<Listed> = file
            .and_then(|f| f.monitors.as_ref())
            .map(|monitors| {
                monitors
                    .iter()
                    .filter(|m| m.shown.public)
                    .map(|m| Listed {
                        name: m.name.clone(),
                        kind: m.kind.name,
                        function: m.kind.function,
                        group: m.shown.group.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let look = html::Look {
            title: page.title,
            description: page.description,
            language: style.language,
            timezone: style.timezone,
            link_suffix: String::new(),
        };
        Ok(StatusSite::new(
            monitors,
            look,
            page.token.as_ref().map(|t| t.expose()),
            store,
        )
        .with_signer(crate::alerting::answers::signer_from(env)?))
    }

    /// The same site, answering the links signed with this signer's key.
    pub fn with_signer(self, signer: Option<crate::alerting::answers::Signer>) -> Self {
        StatusSite { signer, ..self }
    }

    /// The public monitors.
    pub fn monitors(&self) -> &[Listed] {
        &self.monitors
    }

    /// The page, drawn from what the store holds, at most [`CACHE`] old: the reads and the
    /// drawing are done once for every answer in that time.
    async fn page(&self, now: DateTime<Utc>) -> Result<Arc<Page>, StoreError> {
        if let Some((at, page)) = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            && at.elapsed() < CACHE
        {
            return Ok(Arc::clone(page));
        }
        let page = Arc::new(view::page(&self.gather(now).await?, now));
        *self.cache.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), Arc::clone(&page)));
        Ok(page)
    }

    /// The main page's HTML: drawn once per kept page when its links carry no token (a token given
    /// in the query is in every link, so that page is drawn for its request).
    fn main_page(&self, look: &html::Look, page: &Arc<Page>) -> String {
        if !look.link_suffix.is_empty() {
            return html::page(look, page);
        }
        let mut drawn = self.drawn.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((kept, text)) = drawn.as_ref()
            && Arc::ptr_eq(kept, page)
        {
            return text.clone();
        }
        let text = html::page(look, page);
        *drawn = Some((Arc::clone(page), text.clone()));
        text
    }

    /// Reads what the page shows: per function with a public monitor, its history of the last 24
    /// hours, its open and closed incidents; the public monitors' roll-ups of 90 days.
    pub async fn gather(&self, now: DateTime<Utc>) -> Result<Inputs, StoreError> {
        let today = now.date_naive();
        let mut functions: Vec<&'static str> = self.monitors.iter().map(|m| m.function).collect();
        functions.sort_unstable();
        functions.dedup();
        let mut inputs = Inputs {
            monitors: self.monitors.clone(),
            ..Inputs::default()
        };
        for function in functions {
            let mut chunks = Vec::new();
            if let Some(yesterday) = today.pred_opt() {
                let since = now - chrono::Duration::hours(24);
                chunks.extend(
                    self.store
                        .day_chunks(function, yesterday, Some(since))
                        .await?,
                );
            }
            chunks.extend(self.store.day_chunks(function, today, None).await?);
            // Only the public monitors' keys (and their parts') of the function's history.
            let shown = |key: &str| {
                self.monitors
                    .iter()
                    .any(|m| m.function == function && m.owns(key))
            };
            inputs
                .recent
                .insert(function.to_owned(), Recent::read(&chunks, now, shown)?);
            for versioned in self.store.load(function).await? {
                let incident = versioned.incident;
                if matches!(incident.status, Status::Open | Status::Recovering) {
                    inputs.open.push(Open {
                        since: incident.began_at.unwrap_or(incident.updated_at),
                        acknowledged_at: incident.acknowledged().map(|a| a.at),
                        silenced_until: incident.silenced_until(now),
                        key: incident.key,
                        message: incident.message,
                    });
                }
            }
            inputs
                .closed
                .extend(self.store.closed(function, view::CLOSED_SHOWN).await?);
        }
        let keys: Vec<String> = self.monitors.iter().map(Listed::key).collect();
        let from = today - chrono::Duration::days(view::DAYS - 1);
        inputs.rollups = self.store.rollups(&keys, from, today).await?;
        Ok(inputs)
    }

    /// A function's history of the last 7 days (a monitor's chart), at most [`CACHE`] old.
    async fn week(
        &self,
        function: &str,
        now: DateTime<Utc>,
    ) -> Result<Arc<Vec<Record>>, StoreError> {
        if let Some(kept) = self
            .weeks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(function)
            && let Some((at, records)) = kept.lock().unwrap_or_else(|e| e.into_inner()).as_ref()
            && at.elapsed() < CACHE
        {
            return Ok(Arc::clone(records));
        }
        let mut records = Vec::new();
        for back in (0..8).rev() {
            let day = now.date_naive() - chrono::Duration::days(back);
            records.extend(self.store.day(function, day).await?);
        }
        let records = Arc::new(records);
        self.weeks.lock().unwrap_or_else(|e| e.into_inner()).insert(
            function.to_owned(),
            Mutex::new(Some((Instant::now(), Arc::clone(&records)))),
        );
        Ok(records)
    }

    /// The answer to `request` at `now`.
    pub async fn answer(&self, request: &Request, now: DateTime<Utc>) -> Answer {
        // An answer link carries its own signed token: the page's token is not asked for.
        if let Some(token) = request.path.strip_prefix("/act/") {
            return self.act(request, token, now).await;
        }
        if !matches!(request.method.as_str(), "GET" | "HEAD") {
            return Answer::text(405, "only GET and HEAD");
        }
        let mut look = self.look.clone();
        if let Some(expected) = &self.token_hash {
            // Hashed first: every wrong token is compared in the same time, whatever its length.
            let given = hash(request.token().unwrap_or_default());
            if !same(&given, expected) {
                return Answer::text(401, "this status page asks for its token");
            }
            if let Some(token) = request.query("token") {
                look.link_suffix = format!(
                    "?token={}",
                    url::form_urlencoded::byte_serialize(token.as_bytes()).collect::<String>()
                );
            }
        }
        let Some(route) = route(&request.path) else {
            return Answer::text(404, "no such page");
        };
        let private = self.token_hash.is_some();
        let cache = |public: &'static str| {
            if private {
                "private, max-age=30"
            } else {
                public
            }
        };
        let page = match self.page(now).await {
            Ok(page) => page,
            Err(error) => {
                tracing::warn!(%error, "the status page could not read the store");
                return Answer::text(
                    503,
                    "the status page cannot read its store now: try again shortly",
                );
            }
        };
        let monitor = |name: &str| page.monitors.iter().find(|m| m.name == name);
        match route {
            Route::Page => Answer {
                status: 200,
                content_type: "text/html; charset=utf-8",
                cache: cache("public, max-age=30"),
                body: self.main_page(&look, &page),
                extra: Extra::default(),
            },
            Route::PageJson => Answer {
                status: 200,
                content_type: "application/json",
                cache: cache("public, max-age=30"),
                body: page_json(&look, &page).to_string(),
                extra: Extra::default(),
            },
            Route::MonitorJson(name) => match monitor(&name) {
                None => Answer::text(404, "no such page"),
                Some(m) => Answer {
                    status: 200,
                    content_type: "application/json",
                    cache: cache("public, max-age=30"),
                    body: monitor_json(&page, m).to_string(),
                    extra: Extra::default(),
                },
            },
            Route::Monitor(name) => {
                let Some(m) = monitor(&name) else {
                    return Answer::text(404, "no such page");
                };
                let listed = self.monitors.iter().find(|l| l.name == name);
                let week = match listed {
                    Some(listed) => match self.week(listed.function, now).await {
                        Ok(records) => response_of(&records, &listed.key()),
                        Err(error) => {
                            tracing::warn!(%error, "a monitor's week could not be read");
                            Vec::new()
                        }
                    },
                    None => Vec::new(),
                };
                Answer {
                    status: 200,
                    content_type: "text/html; charset=utf-8",
                    cache: cache("public, max-age=30"),
                    body: html::monitor_page(&look, &page, m, &week),
                    extra: Extra::default(),
                }
            }
            Route::Badge(name) => {
                let Some(m) = monitor(&name) else {
                    return Answer::text(404, "no such badge");
                };
                let Some(shows) =
                    badge::Shows::parse(request.query("type"), request.query("period"))
                else {
                    return Answer::text(
                        400,
                        "type is status, uptime or response; period is 24h, 7d, 30d or 90d",
                    );
                };
                let (message, color) = badge::message(m, shows);
                Answer {
                    status: 200,
                    content_type: "image/svg+xml",
                    cache: cache("public, max-age=60"),
                    body: badge::svg(&m.name, &message, color),
                    extra: Extra::default(),
                }
            }
        }
    }

    /// The answer to a Function URL event.
    pub async fn handle(&self, event: &Value) -> Value {
        let Some(request) = Request::of(event) else {
            return Answer::text(400, "not a Function URL request (payload format 2.0)")
                .to_response(false, false);
        };
        let answer = self.answer(&request, Utc::now()).await;
        answer.to_response(request.method == "HEAD", request.gzip)
    }
}

/// The page's figures as `status.json` gives them.
pub fn page_json(look: &html::Look, page: &Page) -> Value {
    json!({
        "title": look.title,
        "description": look.description,
        "generated_at": page.generated_at,
        "overall": page.overall,
        "failing": page.failing,
        "monitors": page.monitors,
        "open_incidents": page.open_incidents,
        "closed_incidents": page.closed_incidents,
    })
}

/// One monitor's figures.
pub fn monitor_json(page: &Page, monitor: &view::MonitorView) -> Value {
    let own = |list: &[view::IncidentView]| -> Vec<view::IncidentView> {
        list.iter()
            .filter(|i| i.monitor == monitor.name)
            .cloned()
            .collect()
    };
    json!({
        "generated_at": page.generated_at,
        "monitor": monitor,
        "open_incidents": own(&page.open_incidents),
        "closed_incidents": own(&page.closed_incidents),
    })
}

/// A key's response times in `records`, oldest first.
fn response_of(records: &[Record], key: &str) -> Vec<(DateTime<Utc>, u64)> {
    records
        .iter()
        .flat_map(|r| {
            r.entries
                .iter()
                .filter(|e| e.key == key)
                .filter_map(move |e| Some((r.at, e.ms?)))
        })
        .collect()
}

async fn build(in_lambda: bool) -> Result<StatusSite, SetupError> {
    let env = secrets::with_secret(Env::from_process()).await?;
    let file = file::from_env(&env)?;
    let store: SharedStore = Arc::from(state::from_env(&env, in_lambda).await?);
    let site = StatusSite::of(file.as_ref(), &env, store)?;
    tracing::info!(public = site.monitors.len(), "status page ready");
    Ok(site)
}

/// The `status` function's `main`: the Lambda loop, or, on a laptop, the page written to a file
/// (`lookout status [path]`, `target/lookout-status.html` unless given).
pub fn main(args: &[String]) -> ExitCode {
    let args = args.to_vec();
    crate::function::launch("status", build, |site, in_lambda| async move {
        if in_lambda {
            serve(Arc::new(site)).await
        } else {
            write_page(&site, args.first().map(String::as_str)).await
        }
    })
}

async fn serve(site: Arc<StatusSite>) -> ExitCode {
    let handler = service_fn(move |event: LambdaEvent<Value>| {
        let site = Arc::clone(&site);
        crate::function::guarded(async move { Ok(site.handle(&event.payload).await) })
    });
    match lambda_runtime::run(handler).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "the Lambda runtime loop stopped");
            ExitCode::FAILURE
        }
    }
}

/// Writes the page to `path` and says where.
pub async fn write_page(site: &StatusSite, path: Option<&str>) -> ExitCode {
    let path = path.unwrap_or("target/lookout-status.html");
    let request = Request {
        method: "GET".into(),
        path: "/".into(),
        ..Request::default()
    };
    let answer = site.answer(&request, Utc::now()).await;
    if answer.status != 200 {
        eprintln!("status: {}", answer.body.trim());
        return ExitCode::FAILURE;
    }
    if let Some(folder) = std::path::Path::new(path).parent() {
        let _ = std::fs::create_dir_all(folder);
    }
    match std::fs::write(path, &answer.body) {
        Ok(()) => {
            println!("status page: {path}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("status: cannot write {path}: {error}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_taken_when_named_or_starred_without_q_zero() {
        for yes in ["gzip", "gzip, deflate, br", "br;q=1, GZIP;q=0.5", "*"] {
            assert!(takes_gzip(yes), "{yes}");
        }
        for no in [
            "",
            "br",
            "identity",
            "gzip;q=0",
            "gzip; q=0.0, br",
            "x-gzip",
        ] {
            assert!(!takes_gzip(no), "{no}");
        }
    }

    #[test]
    fn a_large_body_is_gzipped_only_for_a_client_that_takes_it() {
        let answer = Answer {
            status: 200,
            content_type: "text/html; charset=utf-8",
            cache: "no-store",
            body: "<p>up</p>".repeat(500),
            extra: Extra::default(),
        };
        let plain = answer.to_response(false, false);
        assert_eq!(plain["body"], json!(answer.body));
        assert!(plain.get("isBase64Encoded").is_none());
        let zipped = answer.to_response(false, true);
        assert_eq!(zipped["headers"]["content-encoding"], "gzip");
        assert_eq!(zipped["isBase64Encoded"], true);
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(zipped["body"].as_str().unwrap())
            .unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text)
            .unwrap();
        assert_eq!(text, answer.body);
        // A small body, or a HEAD, goes as it is.
        let small = Answer::text(404, "no such page").to_response(false, true);
        assert!(small["headers"].get("content-encoding").is_none());
        assert_eq!(answer.to_response(true, true)["body"], "");
    }
}
