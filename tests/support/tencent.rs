//! A fake Tencent Cloud API 3.0 endpoint, as strict as the real one (`shared/protocols.md`):
//! - recomputes the TC3-HMAC-SHA256 signature of every request, rejecting a wrong one or a stale
//!   timestamp;
//! - `DescribeGroupOffsets`: at most 100 requests in any second (`RequestLimitExceeded` past it),
//!   `Limit` 1 to 50, and topics whose `Partitions` is null, as the SDK models allow;
//! - `SendSms`: a request mixing mainland and international numbers is refused whole
//!   (`UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber`); per number, the same
//!   content once per 30 s and 10 messages a calendar day (Beijing time); and it can accept a message
//!   and then answer `InternalError.Timeout`, as the real one may.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Json;
use axum::routing::post;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const SECRET_ID: &str = "AKIDfakeLookoutTestId";
pub const SECRET_KEY: &str = "fake-tencent-secret-key-do-not-print";

/// A request the fake accepted (signature and all).
#[derive(Debug, Clone)]
pub struct Received {
    pub action: String,
    pub region: String,
    pub version: String,
    pub body: Value,
}

pub const INSTANCE_ID: &str = "ckafka-lookout1";

#[derive(Default)]
struct Api {
    received: Mutex<Vec<Received>>,
    scripted: Mutex<VecDeque<String>>,
    blacklist: Mutex<HashSet<String>>,
    /// Numbers whose message goes out but whose status says `InternalError.Timeout`.
    timing_out: Mutex<HashSet<String>>,
    last_sent: Mutex<HashMap<(String, String), Instant>>,
    groups: Mutex<HashMap<String, Arc<Vec<Value>>>>,
    page_delay: Mutex<Duration>,
    malformed: std::sync::atomic::AtomicBool,
    in_flight: std::sync::atomic::AtomicUsize,
    most_in_flight: std::sync::atomic::AtomicUsize,
    /// When each `DescribeGroupOffsets` arrived, for the 100-a-second limit.
    describe_times: Mutex<VecDeque<Instant>>,
    most_in_a_second: std::sync::atomic::AtomicUsize,
    /// Per number and Beijing date: messages sent.
    daily: Mutex<HashMap<(String, String), u32>>,
    /// Messages that went out: (number, template parameters).
    delivered: Mutex<Vec<(String, Vec<String>)>>,
    /// How the next `SendSms` calls end after the messages went out.
    after_sending: Mutex<VecDeque<AfterSending>>,
    /// `TotalCount` as answered, whatever the group holds (a hostile or broken answer).
    claimed_total: Mutex<Option<u64>>,
    /// Refuse every request with an error that quotes the session token back.
    echo_token: std::sync::atomic::AtomicBool,
}

/// How a `SendSms` that sent its messages ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterSending {
    /// `InternalError.Timeout`: sent, but the caller cannot know.
    InternalTimeout,
}

/// The most `DescribeGroupOffsets` requests the API takes in one second.
pub const DESCRIBE_PER_SECOND: usize = 100;
/// Messages a number may receive a day.
pub const DAILY_LIMIT: u32 = 10;

/// A topic entry whose `Partitions` is null (the SDK models say it may be).
pub fn topic_without_partitions(name: &str) -> Value {
    json!({"Topic": name, "Partitions": null})
}

/// A topic entry of `DescribeGroupOffsets`, one partition per `(committed, log end)` pair.
pub fn topic(name: &str, partitions: &[(u64, u64)]) -> Value {
    let partitions: Vec<Value> = partitions
        .iter()
        .enumerate()
        .map(|(i, (offset, end))| {
            json!({"Partition": i, "Offset": offset, "Metadata": "", "ErrorCode": 0,
                   "LogEndOffset": end, "Lag": end.saturating_sub(*offset)})
        })
        .collect();
    json!({"Topic": name, "Partitions": partitions})
}

/// The fake API.
#[derive(Clone)]
pub struct FakeTencent {
    pub address: SocketAddr,
    api: Arc<Api>,
}

impl FakeTencent {
    pub async fn start() -> Self {
        let api = Arc::new(Api::default());
        let router = Router::new()
            .route("/", post(handle))
            .with_state(Arc::clone(&api));
        FakeTencent {
            address: super::serve(router).await,
            api,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.address)
    }

    /// The next `times` signed requests get this error code.
    pub fn answer_next(&self, code: &str, times: usize) {
        self.api
            .scripted
            .lock()
            .unwrap()
            .extend(std::iter::repeat_n(code.to_owned(), times));
    }

    /// SMS to this number fails with `FailedOperation.PhoneNumberInBlacklist`.
    pub fn blacklist(&self, number: &str) {
        self.api.blacklist.lock().unwrap().insert(number.to_owned());
    }

    /// SMS to this number goes out, but its status says `InternalError.Timeout`.
    pub fn time_out_after_sending_to(&self, number: &str) {
        self.api
            .timing_out
            .lock()
            .unwrap()
            .insert(number.to_owned());
    }

    /// Accepted requests so far.
    pub fn received(&self) -> Vec<Received> {
        self.api.received.lock().unwrap().clone()
    }

    /// Sets a consumer group's topics (see [`topic`]).
    pub fn set_group(&self, group: &str, topics: Vec<Value>) {
        self.api
            .groups
            .lock()
            .unwrap()
            .insert(group.to_owned(), Arc::new(topics));
    }

    /// Each signed request takes this long to answer.
    pub fn set_page_delay(&self, delay: Duration) {
        *self.api.page_delay.lock().unwrap() = delay;
    }

    /// From now on pages answer JSON that is not the documented shape.
    pub fn answer_malformed(&self) {
        self.api
            .malformed
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// The most `DescribeGroupOffsets` requests in flight at once.
    pub fn most_in_flight(&self) -> usize {
        self.api
            .most_in_flight
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The most `DescribeGroupOffsets` requests that arrived within one second.
    pub fn most_in_a_second(&self) -> usize {
        self.api
            .most_in_a_second
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The next `SendSms` calls send their messages, then end this way.
    pub fn after_sending(&self, how: AfterSending, times: usize) {
        self.api
            .after_sending
            .lock()
            .unwrap()
            .extend(std::iter::repeat_n(how, times));
    }

    /// Answers `TotalCount` as this, whatever the group holds.
    pub fn claim_total(&self, total: u64) {
        *self.api.claimed_total.lock().unwrap() = Some(total);
    }

    /// Refuses every request quoting its `X-TC-Token` back, raw and URL-encoded, as a careless
    /// upstream might.
    pub fn echo_token(&self) {
        self.api
            .echo_token
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Messages that went out, per number.
    pub fn delivered_to(&self, number: &str) -> usize {
        self.api
            .delivered
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, _)| n == number)
            .count()
    }

    /// `DescribeGroupOffsets` requests accepted, per group.
    pub fn pages(&self, group: &str) -> usize {
        self.received()
            .iter()
            .filter(|r| r.action == "DescribeGroupOffsets" && r.body["Group"] == group)
            .count()
    }
}

fn error(code: &str, message: &str) -> Json<Value> {
    Json(
        json!({"Response": {"Error": {"Code": code, "Message": message}, "RequestId": "fake-request"}}),
    )
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// The signature the server expects, computed from what was sent.
fn expected_signature(
    content_type: &str,
    host: &str,
    body: &str,
    timestamp: i64,
    service: &str,
) -> String {
    let date = chrono::DateTime::from_timestamp(timestamp, 0)
        .expect("timestamp")
        .format("%Y-%m-%d")
        .to_string();
    let hashed_body = hex::encode(Sha256::digest(body.as_bytes()));
    let canonical = format!(
        "POST\n/\n\ncontent-type:{content_type}\nhost:{host}\n\ncontent-type;host\n{hashed_body}"
    );
    let scope = format!("{date}/{service}/tc3_request");
    let to_sign = format!(
        "TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let key = hmac(
        &hmac(&hmac(format!("TC3{SECRET_KEY}").as_bytes(), &date), service),
        "tc3_request",
    );
    hex::encode(hmac(&key, &to_sign))
}

async fn handle(State(api): State<Arc<Api>>, headers: HeaderMap, body: String) -> Json<Value> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let authorization = header("authorization");
    let Some(rest) = authorization.strip_prefix("TC3-HMAC-SHA256 ") else {
        return error(
            "AuthFailure.SignatureFailure",
            "missing or unknown signing algorithm",
        );
    };
    let fields: HashMap<&str, &str> = rest
        .split(", ")
        .filter_map(|part| part.split_once('='))
        .collect();
    let credential: Vec<&str> = fields.get("Credential").unwrap_or(&"").split('/').collect();
    if credential.len() != 4 || credential[3] != "tc3_request" {
        return error("AuthFailure.SignatureFailure", "malformed Credential");
    }
    if credential[0] != SECRET_ID {
        return error("AuthFailure.SecretIdNotFound", "the SecretId is not found");
    }
    if fields.get("SignedHeaders") != Some(&"content-type;host") {
        return error("AuthFailure.SignatureFailure", "unexpected SignedHeaders");
    }
    let Ok(timestamp) = header("x-tc-timestamp").parse::<i64>() else {
        return error("AuthFailure.SignatureFailure", "missing X-TC-Timestamp");
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    if (now - timestamp).abs() > 300 {
        return error(
            "AuthFailure.SignatureExpire",
            "the signature expired: check the clock",
        );
    }
    let service = credential[2];
    let expected = expected_signature(
        &header("content-type"),
        &header("host"),
        &body,
        timestamp,
        service,
    );
    if fields.get("Signature") != Some(&expected.as_str()) {
        return error(
            "AuthFailure.SignatureFailure",
            "the signature does not match",
        );
    }
    if let Some(code) = api.scripted.lock().unwrap().pop_front() {
        return error(&code, "scripted failure");
    }
    if api.echo_token.load(std::sync::atomic::Ordering::SeqCst) {
        let token = header("x-tc-token");
        let encoded: String = url::form_urlencoded::byte_serialize(token.as_bytes()).collect();
        return error(
            "AuthFailure.TokenFailure",
            &format!("the token {token} (also {encoded}) is not valid"),
        );
    }
    let Ok(request) = serde_json::from_str::<Value>(&body) else {
        return error("InvalidParameter", "the body is not JSON");
    };
    let received = Received {
        action: header("x-tc-action"),
        region: header("x-tc-region"),
        version: header("x-tc-version"),
        body: request.clone(),
    };
    api.received.lock().unwrap().push(received.clone());
    if received.action == "SendSms" {
        let delay = *api.page_delay.lock().unwrap();
        tokio::time::sleep(delay).await;
    }
    match (received.action.as_str(), service) {
        ("SendSms", "sms") => {
            let answer = send_sms(&api, &received);
            let sent_any = answer.0["Response"]["SendStatusSet"]
                .as_array()
                .is_some_and(|set| set.iter().any(|s| s["Code"] == "Ok"));
            let ending = if sent_any {
                api.after_sending.lock().unwrap().pop_front()
            } else {
                None
            };
            match ending {
                Some(AfterSending::InternalTimeout) => error(
                    "InternalError.Timeout",
                    "the request timed out in the backend",
                ),
                None => answer,
            }
        }
        ("DescribeGroupOffsets", "ckafka") => describe_group_offsets(&api, &received).await,
        (action, _) => error(
            "InvalidAction",
            &format!("no action {action} for {service}"),
        ),
    }
}

async fn describe_group_offsets(api: &Api, request: &Received) -> Json<Value> {
    use std::sync::atomic::Ordering;
    if request.version != "2019-08-19" {
        return error("InvalidParameter", "unsupported X-TC-Version");
    }
    let body = &request.body;
    if body["InstanceId"] != INSTANCE_ID {
        return error(
            "InvalidParameterValue.InstanceNotExist",
            "the instance does not exist",
        );
    }
    let limit = body["Limit"].as_u64().unwrap_or(50);
    let offset = body["Offset"].as_u64().unwrap_or(0) as usize;
    if limit == 0 || limit > 50 {
        return error("InvalidParameterValue", "Limit must be 1 to 50");
    }
    {
        let mut times = api.describe_times.lock().unwrap();
        let now = Instant::now();
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            times.pop_front();
        }
        if times.len() >= DESCRIBE_PER_SECOND {
            return error(
                "RequestLimitExceeded",
                "the number of requests exceeds the frequency limit",
            );
        }
        times.push_back(now);
        api.most_in_a_second
            .fetch_max(times.len(), Ordering::SeqCst);
    }
    let Some(topics) = body["Group"]
        .as_str()
        .and_then(|g| api.groups.lock().unwrap().get(g).cloned())
    else {
        return error("ResourceNotFound", "the consumer group does not exist");
    };
    let wanted = body["Topics"].as_array();
    let selected: Vec<&Value> = topics
        .iter()
        .filter(|t| wanted.is_none_or(|w| w.contains(&t["Topic"])))
        .collect();
    let now = api.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    api.most_in_flight.fetch_max(now, Ordering::SeqCst);
    let delay = *api.page_delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    api.in_flight.fetch_sub(1, Ordering::SeqCst);
    if api.malformed.load(Ordering::SeqCst) {
        return Json(
            json!({"Response": {"Result": {"TopicList": "oops"}, "RequestId": "fake-request"}}),
        );
    }
    let page: Vec<&Value> = selected
        .iter()
        .skip(offset)
        .take(limit as usize)
        .copied()
        .collect();
    let total = api
        .claimed_total
        .lock()
        .unwrap()
        .unwrap_or(selected.len() as u64);
    Json(
        json!({"Response": {"Result": {"TotalCount": total, "TopicList": page}, "RequestId": "fake-request"}}),
    )
}

fn send_sms(api: &Api, request: &Received) -> Json<Value> {
    if request.version != "2021-01-11" {
        return error("InvalidParameter", "unsupported X-TC-Version");
    }
    if request.region.is_empty() {
        return error("InvalidParameter", "X-TC-Region is required");
    }
    let body = &request.body;
    let numbers: Vec<String> = body["PhoneNumberSet"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|n| n.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    // The codes of Tencent's SDK (sms/v20210111 errors.go).
    if numbers.is_empty() {
        return error(
            "MissingParameter.EmptyPhoneNumberSet",
            "the number list is empty",
        );
    }
    if numbers.len() > 200 {
        return error(
            "LimitExceeded.PhoneNumberCountLimit",
            "more than 200 numbers in one request",
        );
    }
    for field in ["SmsSdkAppId", "SignName", "TemplateId"] {
        if body[field].as_str().is_none_or(str::is_empty) {
            return error("MissingParameter", &format!("{field} is required"));
        }
    }
    let params: Vec<String> = body["TemplateParamSet"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let domestic = numbers.iter().filter(|n| n.starts_with("+86")).count();
    if domestic > 0 && domestic < numbers.len() {
        return error(
            "UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber",
            "PhoneNumberSet mixes mainland and international numbers",
        );
    }
    let content = params.join("|");
    let today = (chrono::Utc::now() + chrono::Duration::hours(8))
        .format("%Y-%m-%d")
        .to_string();
    let statuses: Vec<Value> = numbers
        .iter()
        .map(|number| {
            let code = if !number.starts_with('+') {
                "InvalidParameterValue.IncorrectPhoneNumber"
            } else if params.len() != 2 {
                "FailedOperation.TemplateParamSetNotMatchApprovedTemplate"
            } else if params.iter().any(|p| p.chars().count() > 12) {
                "InvalidParameterValue.TemplateParameterLengthLimit"
            } else if api.blacklist.lock().unwrap().contains(number) {
                "FailedOperation.PhoneNumberInBlacklist"
            } else {
                let mut last = api.last_sent.lock().unwrap();
                let mut daily = api.daily.lock().unwrap();
                let key = (number.clone(), content.clone());
                let day = daily.entry((number.clone(), today.clone())).or_insert(0);
                match last.get(&key) {
                    Some(at) if at.elapsed() < Duration::from_secs(30) => "LimitExceeded.PhoneNumberThirtySecondLimit",
                    _ if *day >= DAILY_LIMIT => "LimitExceeded.PhoneNumberDailyLimit",
                    _ => {
                        last.insert(key, Instant::now());
                        *day += 1;
                        api.delivered
                            .lock()
                            .unwrap()
                            .push((number.clone(), params.clone()));
                        if api.timing_out.lock().unwrap().contains(number) {
                            "InternalError.Timeout"
                        } else {
                            "Ok"
                        }
                    }
                }
            };
            json!({"SerialNo": "2433:fake", "PhoneNumber": number, "Fee": 1, "SessionContext": "",
                   "Code": code, "Message": if code == "Ok" { "send success" } else { "failed" }, "IsoCode": "CN"})
        })
        .collect();
    Json(json!({"Response": {"SendStatusSet": statuses, "RequestId": "fake-request"}}))
}
