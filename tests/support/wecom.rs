//! A fake WeCom group robot: checks the key and the JSON, enforces the byte limits and 20 messages a
//! minute (45009), and can be told to answer an error code.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::response::Json;
use axum::routing::post;
use serde_json::{Value, json};

#[derive(Default)]
struct Robot {
    key: String,
    accepted: Mutex<Vec<Value>>,
    sent_at: super::RateWindow,
    scripted: Mutex<VecDeque<i64>>,
    requests: Mutex<usize>,
    delay: Mutex<Duration>,
    stalls: Mutex<usize>,
    echo_key: std::sync::atomic::AtomicBool,
}

/// The fake robot.
#[derive(Clone)]
pub struct FakeWeCom {
    pub address: SocketAddr,
    robot: Arc<Robot>,
}

impl FakeWeCom {
    /// A robot whose webhook key is `key`.
    pub async fn start(key: &str) -> Self {
        let robot = Arc::new(Robot {
            key: key.to_owned(),
            ..Robot::default()
        });
        let router = Router::new()
            .route("/cgi-bin/webhook/send", post(send))
            .with_state(Arc::clone(&robot));
        FakeWeCom {
            address: super::serve(router).await,
            robot,
        }
    }

    /// The webhook URL with this key.
    pub fn url_with_key(&self, key: &str) -> String {
        format!("http://{}/cgi-bin/webhook/send?key={key}", self.address)
    }

    /// The robot's own webhook URL.
    pub fn url(&self) -> String {
        self.url_with_key(&self.robot.key)
    }

    /// The next `times` requests get `errcode` (45009, 93000, ...).
    pub fn answer_next(&self, errcode: i64, times: usize) {
        self.robot
            .scripted
            .lock()
            .unwrap()
            .extend(std::iter::repeat_n(errcode, times));
    }

    /// The next `times` requests are never answered in time (a minute, then -1 "system busy"),
    /// and never accepted.
    pub fn stall_next(&self, times: usize) {
        *self.robot.stalls.lock().unwrap() += times;
    }

    /// From now on every request is refused with 93000, the answer quoting the request's query
    /// back as it came and the key percent-encoded, as the real robot's hints do with parts of the
    /// URL.
    pub fn echo_key(&self) {
        self.robot
            .echo_key
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Each request takes this long to answer.
    pub fn set_delay(&self, delay: Duration) {
        *self.robot.delay.lock().unwrap() = delay;
    }

    /// Messages accepted so far.
    pub fn accepted(&self) -> Vec<Value> {
        self.robot.accepted.lock().unwrap().clone()
    }

    /// Requests received so far, accepted or not.
    pub fn requests(&self) -> usize {
        *self.robot.requests.lock().unwrap()
    }
}

fn answer(code: i64, message: &str) -> Json<Value> {
    Json(json!({"errcode": code, "errmsg": message}))
}

async fn send(
    State(robot): State<Arc<Robot>>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    uri: axum::http::Uri,
    body: String,
) -> Json<Value> {
    *robot.requests.lock().unwrap() += 1;
    let stall = {
        let mut stalls = robot.stalls.lock().unwrap();
        let stall = *stalls > 0;
        *stalls = stalls.saturating_sub(1);
        stall
    };
    if stall {
        tokio::time::sleep(Duration::from_secs(60)).await;
        return answer(-1, "system busy");
    }
    let delay = *robot.delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    if robot.echo_key.load(std::sync::atomic::Ordering::SeqCst) {
        let key = query.get("key").cloned().unwrap_or_default();
        let encoded: String = url::form_urlencoded::byte_serialize(key.as_bytes()).collect();
        return answer(
            93000,
            &format!(
                "invalid webhook url, hint: [{}] [key={encoded}]",
                uri.query().unwrap_or_default()
            ),
        );
    }
    if query.get("key") != Some(&robot.key) {
        return answer(93000, "invalid webhook url, hint: [1700000000_xxx]");
    }
    if let Some(code) = robot.scripted.lock().unwrap().pop_front() {
        return answer(code, "scripted failure");
    }
    let Ok(message) = serde_json::from_str::<Value>(&body) else {
        return answer(40035, "invalid parameter: body is not JSON");
    };
    let (content, limit) = match message["msgtype"].as_str() {
        Some("markdown") => (message["markdown"]["content"].as_str(), 4096),
        Some("text") => {
            let mentions_ok = match &message["text"]["mentioned_mobile_list"] {
                Value::Null => true,
                Value::Array(list) => list.iter().all(Value::is_string),
                _ => false,
            };
            if !mentions_ok {
                return answer(40035, "invalid mentioned_mobile_list");
            }
            (message["text"]["content"].as_str(), 2048)
        }
        _ => return answer(40008, "invalid message type"),
    };
    let Some(content) = content else {
        return answer(40035, "content missing");
    };
    if content.is_empty() {
        return answer(44004, "empty content");
    }
    if content.len() > limit {
        return answer(40058, "content exceed max length");
    }
    if robot
        .sent_at
        .take(&[(20, Duration::from_secs(60))])
        .is_err()
    {
        return answer(45009, "api freq out of limit");
    }
    robot.accepted.lock().unwrap().push(message);
    answer(0, "ok")
}
