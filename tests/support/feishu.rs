//! A fake Feishu custom bot, as strict as the real one: the hook id, the signature in the body
//! (recomputed: HMAC-SHA256 keyed by timestamp + "\n" + secret over nothing), its timestamp (within
//! an hour, a number or a string), the 20 KB body, the card's fields, and 5 messages a second / 100 a
//! minute (then 11232). Refusals carry the real codes and messages.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Json;
use axum::routing::post;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

struct Bot {
    hook: String,
    secret: Option<String>,
    accepted: Mutex<Vec<Value>>,
    sent_at: super::RateWindow,
}

/// The fake bot.
#[derive(Clone)]
pub struct FakeFeishu {
    pub address: SocketAddr,
    bot: Arc<Bot>,
}

impl FakeFeishu {
    /// A bot with this hook id, signing with `secret` when given.
    pub async fn start(hook: &str, secret: Option<&str>) -> Self {
        let bot = Arc::new(Bot {
            hook: hook.to_owned(),
            secret: secret.map(str::to_owned),
            accepted: Mutex::new(Vec::new()),
            sent_at: super::RateWindow::default(),
        });
        let router = Router::new()
            .route("/open-apis/bot/v2/hook/{hook}", post(send))
            .with_state(Arc::clone(&bot));
        FakeFeishu {
            address: super::serve(router).await,
            bot,
        }
    }

    /// The webhook URL.
    pub fn url(&self) -> String {
        format!(
            "http://{}/open-apis/bot/v2/hook/{}",
            self.address, self.bot.hook
        )
    }

    /// Cards accepted so far.
    pub fn accepted(&self) -> Vec<Value> {
        self.bot.accepted.lock().unwrap().clone()
    }
}

/// The signature Feishu expects.
pub fn expected_sign(secret: &str, timestamp: &str) -> String {
    let mac = Hmac::<Sha256>::new_from_slice(format!("{timestamp}\n{secret}").as_bytes()).unwrap();
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A card element of the JSON 1.0 card: a `div` with a text, or an `action` module of buttons,
/// each with a text and at most one of `url` and `multi_url` (an http(s) link).
fn valid_element(element: &Value) -> bool {
    let text = |t: &Value| {
        matches!(t["tag"].as_str(), Some("plain_text" | "lark_md")) && t["content"].is_string()
    };
    match element["tag"].as_str() {
        Some("div") => text(&element["text"]),
        Some("hr") => true,
        Some("action") => element["actions"].as_array().is_some_and(|actions| {
            !actions.is_empty()
                && actions.iter().all(|b| {
                    b["tag"] == "button"
                        && text(&b["text"])
                        && !(b.get("url").is_some() && b.get("multi_url").is_some())
                        && b.get("url").is_none_or(|u| {
                            u.as_str().is_some_and(|u| {
                                u.starts_with("https://") || u.starts_with("http://")
                            })
                        })
                        && b.get("type").is_none_or(|t| {
                            matches!(t.as_str(), Some("default" | "primary" | "danger"))
                        })
                })
        }),
        _ => false,
    }
}

fn answer(code: i64, message: &str) -> Json<Value> {
    Json(json!({"code": code, "data": {}, "msg": message}))
}

async fn send(State(bot): State<Arc<Bot>>, Path(hook): Path<String>, body: String) -> Json<Value> {
    if hook != bot.hook {
        return answer(
            19001,
            "param invalid: incoming webhook access token invalid",
        );
    }
    if body.len() > 20 * 1024 {
        return answer(9499, "request body exceeds 20KB");
    }
    let Ok(message) = serde_json::from_str::<Value>(&body) else {
        return answer(9499, "Bad Request");
    };
    if let Some(secret) = &bot.secret {
        const REFUSED: &str =
            "sign match fail or timestamp is not within one hour from current time";
        let timestamp = match &message["timestamp"] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return answer(19021, REFUSED),
        };
        let fresh = timestamp
            .parse::<i64>()
            .is_ok_and(|t| (chrono::Utc::now().timestamp() - t).abs() <= 3600);
        if !fresh || message["sign"].as_str() != Some(expected_sign(secret, &timestamp).as_str()) {
            return answer(19021, REFUSED);
        }
    }
    let card = &message["card"];
    let valid = message["msg_type"] == "interactive"
        && card["header"]["title"]["content"].is_string()
        && card["elements"]
            .as_array()
            .is_some_and(|e| !e.is_empty() && e.iter().all(valid_element));
    if !valid {
        return answer(19002, "params error, msg_type or card invalid");
    }
    let limits = [(5, Duration::from_secs(1)), (100, Duration::from_secs(60))];
    if bot.sent_at.take(&limits).is_err() {
        return answer(
            11232,
            "frequency limited psm[lark.oapi.app_platform_runtime]appID[1]",
        );
    }
    bot.accepted.lock().unwrap().push(message);
    Json(
        json!({"StatusCode": 0, "StatusMessage": "success", "code": 0, "data": {}, "msg": "success"}),
    )
}
