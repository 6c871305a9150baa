//! A fake Globalping API, as strict as the real one (jsdelivr/globalping, `shared/protocols.md`):
//! - `POST /v1/measurements` validates the request: `type` http, `target` a bare host, `limit` 1 to
//!   500 (50 without a token), each location exactly one of `country` (an ISO 3166 alpha-2 code),
//!   `continent` (AF AN AS EU NA OC SA) or `magic`, `measurementOptions.port` 1 to 65535 and
//!   `request.query` a string when present; 400 `validation_error` otherwise.
//! - The POST limiter counts *probes* per hour per caller (250 anonymous, 500 with a token); past it
//!   429 `too_many_probes` with `X-RateLimit-Limit`, `-Remaining`, `-Reset` (seconds until the window
//!   resets), `-Consumed` and `X-Request-Cost`, and no `Retry-After`.
//! - `GET /v1/measurements/{id}` answers in-progress a set number of times, then finished.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

/// Probes an hour for an anonymous caller, and for one with a token.
pub const ANONYMOUS_PROBES_PER_HOUR: u64 = 250;
pub const AUTHENTICATED_PROBES_PER_HOUR: u64 = 500;

/// ISO 3166-1 alpha-2 codes (the `country` field takes nothing else).
const COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";
const CONTINENTS: [&str; 7] = ["AF", "AN", "AS", "EU", "NA", "OC", "SA"];

struct Window {
    consumed: u64,
    resets_at: Instant,
    length: Duration,
}

struct Api {
    refuse_tokens: std::sync::atomic::AtomicBool,
    window: Mutex<Window>,
    in_progress_polls: Mutex<usize>,
    results: Mutex<Vec<Value>>,
    created: Mutex<Vec<(Value, Option<String>)>>,
    refused: Mutex<Vec<(u16, HeaderMap)>>,
    polls: Mutex<Vec<Instant>>,
}

/// The fake API.
#[derive(Clone)]
pub struct FakeGlobalping {
    pub address: SocketAddr,
    api: Arc<Api>,
}

/// A probe's result entry.
pub fn probe(city: &str, country: &str, network: &str, status: &str, total: Option<u64>) -> Value {
    json!({
        "probe": {"continent": "AS", "country": country, "city": city, "asn": 4134, "network": network},
        "result": {"status": status, "statusCode": if status == "finished" { json!(200) } else { Value::Null },
                   "rawOutput": if status == "failed" { "connect ECONNREFUSED" } else { "" },
                   "timings": {"total": total, "dns": 10, "tcp": total.map(|t| t / 3), "tls": 20, "firstByte": 30, "download": total.map(|t| t / 4)}}
    })
}

impl FakeGlobalping {
    pub async fn start(results: Vec<Value>, in_progress_polls: usize) -> Self {
        let api = Arc::new(Api {
            refuse_tokens: std::sync::atomic::AtomicBool::new(false),
            window: Mutex::new(Window {
                consumed: 0,
                resets_at: Instant::now() + Duration::from_secs(3600),
                length: Duration::from_secs(3600),
            }),
            in_progress_polls: Mutex::new(in_progress_polls),
            results: Mutex::new(results),
            created: Mutex::default(),
            refused: Mutex::default(),
            polls: Mutex::default(),
        });
        let router = Router::new()
            .route("/v1/measurements", post(create))
            .route("/v1/measurements/{id}", get(poll))
            .with_state(Arc::clone(&api));
        FakeGlobalping {
            address: super::serve(router).await,
            api,
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// `consumed` probes already spent in a window that resets in `resets_in` (then lasts an hour).
    pub fn spend(&self, consumed: u64, resets_in: Duration) {
        let mut window = self.api.window.lock().unwrap();
        window.consumed = consumed;
        window.resets_at = Instant::now() + resets_in;
    }

    /// From now on a token is refused with 401, the answer quoting it back (as a careless upstream
    /// might).
    pub fn refuse_tokens(&self) {
        self.api
            .refuse_tokens
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// The measurements created: body and Authorization header.
    pub fn created(&self) -> Vec<(Value, Option<String>)> {
        self.api.created.lock().unwrap().clone()
    }

    /// The creates refused: status and headers.
    pub fn refused(&self) -> Vec<(u16, HeaderMap)> {
        self.api.refused.lock().unwrap().clone()
    }

    /// When each poll arrived.
    pub fn polls(&self) -> Vec<Instant> {
        self.api.polls.lock().unwrap().clone()
    }
}

fn invalid(api: &Api, message: String) -> Response {
    api.refused.lock().unwrap().push((400, HeaderMap::new()));
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": {"type": "validation_error", "message": message}})),
    )
        .into_response()
}

/// Why a request body is refused, if it is.
fn validate(body: &Value, authenticated: bool) -> Option<String> {
    if body["type"] != "http" {
        return Some("\"type\" must be http".into());
    }
    let target = body["target"].as_str().unwrap_or_default();
    if target.is_empty() || target.contains('/') || target.contains(':') {
        return Some("\"target\" must be a valid hostname".into());
    }
    let limit = body["limit"].as_u64().unwrap_or(1);
    let most = if authenticated { 500 } else { 50 };
    if !(1..=most).contains(&limit) {
        return Some(format!("\"limit\" must be less than or equal to {most}"));
    }
    for location in body["locations"].as_array().into_iter().flatten() {
        let fields: Vec<&String> = location
            .as_object()
            .map(|o| o.keys().filter(|k| *k != "limit").collect())
            .unwrap_or_default();
        if fields.len() != 1 {
            return Some("each location takes one of country, continent or magic".into());
        }
        let value = location[fields[0].as_str()].as_str().unwrap_or_default();
        let known = match fields[0].as_str() {
            "country" => COUNTRIES.split(' ').any(|c| c == value),
            "continent" => CONTINENTS.contains(&value),
            "magic" => !value.is_empty(),
            _ => false,
        };
        if !known {
            return Some(format!(
                "\"locations\" has an invalid {}: {value:?}",
                fields[0]
            ));
        }
    }
    let options = &body["measurementOptions"];
    if let Some(port) = options.get("port")
        && !port.as_u64().is_some_and(|p| (1..=65535).contains(&p))
    {
        return Some("\"measurementOptions.port\" must be 1 to 65535".into());
    }
    if let Some(query) = options["request"].get("query")
        && !query.is_string()
    {
        return Some("\"measurementOptions.request.query\" must be a string".into());
    }
    if !matches!(
        options["protocol"].as_str(),
        None | Some("HTTP" | "HTTPS" | "HTTP2")
    ) {
        return Some("\"measurementOptions.protocol\" must be HTTP, HTTPS or HTTP2".into());
    }
    None
}

async fn create(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(given) = &authorization
        && api.refuse_tokens.load(std::sync::atomic::Ordering::SeqCst)
    {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": {"type": "unauthorized", "message": format!("Invalid token: {given}")}})),
        )
            .into_response();
    }
    if let Some(problem) = validate(&body, authorization.is_some()) {
        return invalid(&api, problem);
    }
    let cost = body["limit"].as_u64().unwrap_or(1);
    let points = if authorization.is_some() {
        AUTHENTICATED_PROBES_PER_HOUR
    } else {
        ANONYMOUS_PROBES_PER_HOUR
    };
    let (allowed, reset, remaining, consumed) = {
        let mut window = api.window.lock().unwrap();
        let now = Instant::now();
        if now >= window.resets_at {
            window.consumed = 0;
            window.resets_at = now + window.length;
        }
        let allowed = window.consumed + cost <= points;
        if allowed {
            window.consumed += cost;
        }
        let reset = window.resets_at.saturating_duration_since(now);
        (
            allowed,
            (reset.as_millis() as f64 / 1000.0).round() as u64,
            points.saturating_sub(window.consumed),
            if allowed { cost } else { 0 },
        )
    };
    let mut limits = HeaderMap::new();
    for (name, value) in [
        ("x-ratelimit-reset", reset),
        ("x-ratelimit-limit", points),
        ("x-ratelimit-consumed", consumed),
        ("x-ratelimit-remaining", remaining),
        ("x-request-cost", cost),
    ] {
        limits.insert(name, value.to_string().parse().expect("a header value"));
    }
    if !allowed {
        api.refused.lock().unwrap().push((429, limits.clone()));
        return (
            StatusCode::TOO_MANY_REQUESTS,
            limits,
            Json(json!({"error": {"type": "too_many_probes", "message": "Too Many Probes Requested"},
                        "links": {"documentation": "https://globalping.io/docs/api.globalping.io#post-/v1/measurements"}})),
        )
            .into_response();
    }
    api.created.lock().unwrap().push((body, authorization));
    let count = api.results.lock().unwrap().len();
    (
        StatusCode::ACCEPTED,
        limits,
        Json(json!({"id": "m-1", "probesCount": count})),
    )
        .into_response()
}

async fn poll(State(api): State<Arc<Api>>, Path(id): Path<String>) -> Response {
    api.polls.lock().unwrap().push(Instant::now());
    if id != "m-1" {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": {"type": "not_found", "message": "Couldn't find the requested measurement."}})),
        )
            .into_response();
    }
    let results = api.results.lock().unwrap().clone();
    let mut remaining = api.in_progress_polls.lock().unwrap();
    if *remaining > 0 {
        *remaining -= 1;
        let partial: Vec<Value> = results
            .iter()
            .map(|r| json!({"probe": r["probe"], "result": {"status": "in-progress", "timings": {}}}))
            .collect();
        return Json(
            json!({"id": id, "type": "http", "status": "in-progress", "results": partial}),
        )
        .into_response();
    }
    Json(json!({"id": id, "type": "http", "status": "finished", "results": results}))
        .into_response()
}
