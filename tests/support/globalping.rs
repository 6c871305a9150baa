//! A fake Globalping API, as strict as the real one (jsdelivr/globalping, `shared/protocols.md`):
//! - `POST /v1/measurements` validates the request: `type` http, ping or dns; `target` a bare
//!   public host (private and loopback addresses, `localhost` and single labels are refused, as
//!   Globalping's "Private hostnames are not allowed."); `limit` 1 to 500 (50 without a token);
//!   each location exactly one of `country` (an ISO 3166 alpha-2 code), `continent` (AF AN AS EU NA
//!   OC SA) or `magic`; per type only its own `measurementOptions` (Joi refuses unknown keys): http
//!   `request` (`method` GET or HEAD, `path`, `query` a string, `host`, `headers`), `protocol` HTTP,
//!   HTTPS or HTTP2, `port`, `resolver`; ping `packets` 1 to 16, `protocol` ICMP or TCP, `port`,
//!   `ipVersion`; dns `query.type` one of its record types, `protocol` UDP or TCP, `port`,
//!   `resolver`, `trace`; any `port` 1 to 65535. 400 `validation_error` otherwise.
//! - The POST limiter counts *probes* per hour per caller (250 anonymous, 500 with a token); past it
//!   429 `too_many_probes` with `X-RateLimit-Limit`, `-Remaining`, `-Reset` (seconds until the window
//!   resets), `-Consumed` and `X-Request-Cost`, and no `Retry-After`.
//! - `GET /v1/measurements/{id}` answers in-progress a set number of times, then finished, with at
//!   most `limit` results: the target's own when a test set them, else the fake's.
//! - A test can make the API answer an error status, or never answer a create at all.

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
    stall: std::sync::atomic::AtomicBool,
    answer_with: Mutex<Option<u16>>,
    by_target: Mutex<std::collections::HashMap<String, Vec<Value>>>,
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

/// An `http` probe's entry: the status it got, or a failed request (`None`).
pub fn http_probe(city: &str, status: Option<u16>) -> Value {
    let result = match status {
        Some(code) => json!({"status": "finished", "statusCode": code, "rawOutput": "",
                             "timings": {"total": 120, "dns": 10, "tcp": 30, "tls": 20, "firstByte": 40, "download": 20}}),
        None => json!({"status": "failed", "statusCode": null, "rawOutput": "connect ECONNREFUSED",
                       "timings": {"total": null}}),
    };
    json!({"probe": {"continent": "EU", "country": "DE", "city": city, "asn": 3320, "network": "Deutsche Telekom"},
           "result": result})
}

/// A TCP `ping` probe's entry: `received` of 3 handshakes made, as the probe reports its
/// statistics.
pub fn ping_probe(city: &str, received: u64) -> Value {
    json!({"probe": {"continent": "NA", "country": "US", "city": city, "asn": 7018, "network": "AT&T"},
           "result": {"status": "finished", "rawOutput": "", "resolvedAddress": "192.0.2.1",
                      "timings": [], "stats": {"min": null, "max": null, "avg": null, "total": 3,
                                               "rcv": received, "drop": 3 - received,
                                               "loss": (3 - received) as f64 * 100.0 / 3.0}}})
}

/// A `dns` probe's entry: the answer's status code name and its records' values.
pub fn dns_probe(city: &str, code: &str, values: &[&str]) -> Value {
    let answers: Vec<Value> = values
        .iter()
        .map(
            |v| json!({"name": "example.com.", "type": "A", "ttl": 300, "class": "IN", "value": v}),
        )
        .collect();
    json!({"probe": {"continent": "AS", "country": "JP", "city": city, "asn": 2516, "network": "KDDI"},
           "result": {"status": "finished", "statusCode": if code == "NOERROR" { 0 } else { 3 },
                      "statusCodeName": code, "answers": answers, "rawOutput": "",
                      "resolver": "1.1.1.1", "timings": {"total": 20}}})
}

impl FakeGlobalping {
    pub async fn start(results: Vec<Value>, in_progress_polls: usize) -> Self {
        let api = Arc::new(Api {
            refuse_tokens: std::sync::atomic::AtomicBool::new(false),
            stall: std::sync::atomic::AtomicBool::new(false),
            answer_with: Mutex::new(None),
            by_target: Mutex::default(),
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

    /// What the probes answer for measurements of `target` (instead of the fake's results).
    pub fn answer_for(&self, target: &str, results: Vec<Value>) {
        self.api
            .by_target
            .lock()
            .unwrap()
            .insert(target.to_owned(), results);
    }

    /// From now on every create is answered `status` (500: Globalping's own trouble).
    pub fn answer_with(&self, status: u16) {
        *self.api.answer_with.lock().unwrap() = Some(status);
    }

    /// From now on a create is never answered: the connection stays open, silent.
    pub fn stall(&self) {
        self.api
            .stall
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
    let kind = body["type"].as_str().unwrap_or_default();
    if !matches!(kind, "http" | "ping" | "dns") {
        return Some("\"type\" must be one of [ping, dns, traceroute, mtr, http]".into());
    }
    let target = body["target"].as_str().unwrap_or_default();
    if target.is_empty()
        || target.contains('/')
        || (target.contains(':') && target.parse::<std::net::Ipv6Addr>().is_err())
    {
        return Some("\"target\" must be a valid hostname".into());
    }
    if is_private(target) {
        return Some("Private hostnames are not allowed.".into());
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
    let allowed: &[&str] = match kind {
        "http" => &["request", "protocol", "port", "resolver", "ipVersion"],
        "ping" => &["packets", "protocol", "port", "ipVersion"],
        _ => &[
            "query",
            "protocol",
            "port",
            "resolver",
            "trace",
            "ipVersion",
        ],
    };
    if let Some(unknown) = options
        .as_object()
        .into_iter()
        .flat_map(|o| o.keys())
        .find(|k| !allowed.contains(&k.as_str()))
    {
        return Some(format!("\"measurementOptions.{unknown}\" is not allowed"));
    }
    if let Some(port) = options.get("port")
        && !port.as_u64().is_some_and(|p| (1..=65535).contains(&p))
    {
        return Some("\"measurementOptions.port\" must be 1 to 65535".into());
    }
    let protocol = options["protocol"].as_str().map(str::to_ascii_uppercase);
    let one_of = |field: &str, valid: &[&str], given: Option<&str>| {
        given
            .filter(|g| !valid.iter().any(|v| v.eq_ignore_ascii_case(g)))
            .map(|_| {
                format!(
                    "\"measurementOptions.{field}\" must be one of [{}]",
                    valid.join(", ")
                )
            })
    };
    match kind {
        "http" => {
            if let Some(query) = options["request"].get("query")
                && !query.is_string()
            {
                return Some("\"measurementOptions.request.query\" must be a string".into());
            }
            if let Some(problem) = one_of(
                "request.method",
                &["GET", "HEAD"],
                options["request"]["method"].as_str(),
            ) {
                return Some(problem);
            }
            one_of("protocol", &["HTTP", "HTTPS", "HTTP2"], protocol.as_deref())
        }
        "ping" => {
            if let Some(packets) = options.get("packets")
                && !packets.as_u64().is_some_and(|p| (1..=16).contains(&p))
            {
                return Some("\"measurementOptions.packets\" must be 1 to 16".into());
            }
            one_of("protocol", &["ICMP", "TCP"], protocol.as_deref())
        }
        _ => {
            const TYPES: &[&str] = &[
                "A", "AAAA", "ANY", "CNAME", "DNSKEY", "DS", "HTTPS", "MX", "NS", "NSEC", "PTR",
                "RRSIG", "SOA", "TXT", "SRV", "SVCB",
            ];
            if let Some(problem) = one_of("query.type", TYPES, options["query"]["type"].as_str()) {
                return Some(problem);
            }
            if let Some(resolver) = options["resolver"].as_str()
                && is_private(resolver)
            {
                return Some("Private hostnames are not allowed.".into());
            }
            one_of("protocol", &["UDP", "TCP"], protocol.as_deref())
        }
    }
}

/// A target Globalping refuses: a private, loopback or link-local address, `localhost`, a single
/// label.
fn is_private(target: &str) -> bool {
    match target.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => {
            ip.is_private() || ip.is_loopback() || ip.is_link_local() || ip.is_unspecified()
        }
        Ok(std::net::IpAddr::V6(ip)) => {
            ip.is_loopback() || ip.is_unspecified() || (ip.segments()[0] & 0xfe00) == 0xfc00
        }
        Err(_) => target.eq_ignore_ascii_case("localhost") || !target.contains('.'),
    }
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
    if api.stall.load(std::sync::atomic::Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    let failing = *api.answer_with.lock().unwrap();
    if let Some(status) = failing {
        api.refused.lock().unwrap().push((status, HeaderMap::new()));
        return (
            StatusCode::from_u16(status).expect("a status"),
            Json(json!({"error": {"type": "api_error", "message": "Internal Server Error."}})),
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
    let count = results_for(&api, &body).len();
    let id = {
        let mut created = api.created.lock().unwrap();
        created.push((body, authorization));
        format!("m-{}", created.len())
    };
    (
        StatusCode::ACCEPTED,
        limits,
        Json(json!({"id": id, "probesCount": count})),
    )
        .into_response()
}

/// The results a measurement of `body` gets: its target's, else the fake's, at most `limit`.
fn results_for(api: &Api, body: &Value) -> Vec<Value> {
    let target = body["target"].as_str().unwrap_or_default();
    let mut results = match api.by_target.lock().unwrap().get(target) {
        Some(own) => own.clone(),
        None => api.results.lock().unwrap().clone(),
    };
    results.truncate(body["limit"].as_u64().unwrap_or(1) as usize);
    results
}

async fn poll(State(api): State<Arc<Api>>, Path(id): Path<String>) -> Response {
    api.polls.lock().unwrap().push(Instant::now());
    let body = id
        .strip_prefix("m-")
        .and_then(|n| n.parse::<usize>().ok())
        .and_then(|n| {
            api.created
                .lock()
                .unwrap()
                .get(n.wrapping_sub(1))
                .map(|c| c.0.clone())
        });
    let Some(body) = body else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": {"type": "not_found", "message": "Couldn't find the requested measurement."}})),
        )
            .into_response();
    };
    let kind = body["type"].clone();
    let results = results_for(&api, &body);
    let mut remaining = api.in_progress_polls.lock().unwrap();
    if *remaining > 0 {
        *remaining -= 1;
        let partial: Vec<Value> = results
            .iter()
            .map(|r| json!({"probe": r["probe"], "result": {"status": "in-progress", "timings": {}}}))
            .collect();
        return Json(json!({"id": id, "type": kind, "status": "in-progress", "results": partial}))
            .into_response();
    }
    Json(json!({"id": id, "type": kind, "status": "finished", "results": results})).into_response()
}
