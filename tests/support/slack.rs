//! A fake Slack incoming webhook, as strict as the real one: the path's token (403
//! `invalid_token`), `text` or `blocks` (400 `no_text`), section text within 3,000 characters and
//! at most 50 blocks (400 `invalid_blocks`), one message a second (then 429 `rate_limited` with
//! `Retry-After: 1`), and, when told, 429 with a longer `Retry-After`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::Value;

struct Hook {
    token: String,
    sent_at: super::RateWindow,
    accepted: Mutex<Vec<Value>>,
    limited: Mutex<usize>,
    retry_after: Mutex<u64>,
}

/// The fake webhook.
#[derive(Clone)]
pub struct FakeSlack {
    pub address: SocketAddr,
    hook: Arc<Hook>,
}

impl FakeSlack {
    /// A webhook whose path ends in `token`.
    pub async fn start(token: &str) -> Self {
        let hook = Arc::new(Hook {
            token: token.to_owned(),
            sent_at: super::RateWindow::default(),
            accepted: Mutex::new(Vec::new()),
            limited: Mutex::new(0),
            retry_after: Mutex::new(1),
        });
        let router = Router::new()
            .route("/services/{token}", post(send))
            .with_state(Arc::clone(&hook));
        FakeSlack {
            address: super::serve(router).await,
            hook,
        }
    }

    /// The webhook URL.
    pub fn url(&self) -> String {
        format!("http://{}/services/{}", self.address, self.hook.token)
    }

    /// The next `times` posts get 429 with `Retry-After: seconds`.
    pub fn rate_limit_next(&self, times: usize, seconds: u64) {
        *self.hook.limited.lock().unwrap() += times;
        *self.hook.retry_after.lock().unwrap() = seconds;
    }

    /// Messages accepted so far.
    pub fn accepted(&self) -> Vec<Value> {
        self.hook.accepted.lock().unwrap().clone()
    }
}

/// A button element as Block Kit takes it: a `plain_text` text of at most 75 characters, and when
/// given, a `url` of at most 3,000, an `action_id` of at most 255, a `style` of primary or danger.
fn valid_button(button: &Value) -> bool {
    let short = |v: &Value, max: usize| {
        v.as_str()
            .is_some_and(|s| !s.is_empty() && s.chars().count() <= max)
    };
    button["type"] == "button"
        && button["text"]["type"] == "plain_text"
        && short(&button["text"]["text"], 75)
        && button.get("url").is_none_or(|u| short(u, 3000))
        && button.get("action_id").is_none_or(|a| short(a, 255))
        && button
            .get("style")
            .is_none_or(|s| matches!(s.as_str(), Some("primary" | "danger")))
}

async fn send(State(hook): State<Arc<Hook>>, Path(token): Path<String>, body: String) -> Response {
    if token != hook.token {
        return (StatusCode::FORBIDDEN, "invalid_token").into_response();
    }
    {
        let mut limited = hook.limited.lock().unwrap();
        if *limited > 0 {
            *limited -= 1;
            let mut headers = HeaderMap::new();
            let seconds = *hook.retry_after.lock().unwrap();
            headers.insert("retry-after", HeaderValue::from(seconds));
            return (StatusCode::TOO_MANY_REQUESTS, headers, "rate_limited").into_response();
        }
    }
    // About one message a second per webhook: a burst beyond it is rate limited.
    if hook
        .sent_at
        .take(&[(1, std::time::Duration::from_secs(1))])
        .is_err()
    {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from(1));
        return (StatusCode::TOO_MANY_REQUESTS, headers, "rate_limited").into_response();
    }
    let Ok(message) = serde_json::from_str::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "invalid_payload").into_response();
    };
    let text = message["text"].as_str().unwrap_or_default();
    let blocks = message["blocks"].as_array();
    if text.is_empty() && blocks.is_none_or(|b| b.is_empty()) {
        return (StatusCode::BAD_REQUEST, "no_text").into_response();
    }
    if let Some(blocks) = blocks {
        let valid = blocks.len() <= 50
            && blocks.iter().all(|b| match b["type"].as_str() {
                Some("section") => b["text"]["text"]
                    .as_str()
                    .is_some_and(|t| !t.is_empty() && t.chars().count() <= 3000),
                Some("actions") => b["elements"].as_array().is_some_and(|e| {
                    let ids: std::collections::HashSet<&str> =
                        e.iter().filter_map(|b| b["action_id"].as_str()).collect();
                    (1..=25).contains(&e.len())
                        && ids.len() == e.iter().filter(|b| b.get("action_id").is_some()).count()
                        && e.iter().all(valid_button)
                }),
                _ => false,
            });
        if !valid {
            return (StatusCode::BAD_REQUEST, "invalid_blocks").into_response();
        }
    }
    hook.accepted.lock().unwrap().push(message);
    (StatusCode::OK, "ok").into_response()
}
