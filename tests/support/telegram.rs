//! A fake Telegram Bot API, as strict as the real one for `sendMessage`: the token in the path
//! (401 Unauthorized), a known `chat_id` (400 chat not found), `parse_mode: HTML` with only the
//! tags Telegram knows and every `<`, `>`, `&` escaped otherwise (400 can't parse entities), at most
//! 4,096 characters after entity parsing (400 message is too long), 20 messages a minute in the
//! chat (then the flood limit: 429 with `parameters.retry_after` until a minute has passed), and,
//! when told, the flood limit at once.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::post;
use serde_json::{Value, json};

const TAGS: &[&str] = &[
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "a",
    "code",
    "pre",
    "span",
    "tg-spoiler",
    "blockquote",
];

struct Bot {
    token: String,
    sent_at: super::RateWindow,
    chat: String,
    accepted: Mutex<Vec<Value>>,
    flood: Mutex<usize>,
    retry_after: Mutex<u64>,
}

/// The fake Bot API.
#[derive(Clone)]
pub struct FakeTelegram {
    pub address: SocketAddr,
    bot: Arc<Bot>,
}

impl FakeTelegram {
    /// A bot with this token, in this chat.
    pub async fn start(token: &str, chat: &str) -> Self {
        let bot = Arc::new(Bot {
            token: token.to_owned(),
            sent_at: super::RateWindow::default(),
            chat: chat.to_owned(),
            accepted: Mutex::new(Vec::new()),
            flood: Mutex::new(0),
            retry_after: Mutex::new(1),
        });
        let router = Router::new()
            .route("/{bot}/sendMessage", post(send_message))
            .with_state(Arc::clone(&bot));
        FakeTelegram {
            address: super::serve(router).await,
            bot,
        }
    }

    /// The base URL (`TELEGRAM_BASE_URL`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The next `times` messages hit the flood limit, retry after `seconds`.
    pub fn flood_next(&self, times: usize, seconds: u64) {
        *self.bot.flood.lock().unwrap() += times;
        *self.bot.retry_after.lock().unwrap() = seconds;
    }

    /// Messages accepted so far.
    pub fn accepted(&self) -> Vec<Value> {
        self.bot.accepted.lock().unwrap().clone()
    }
}

fn refuse(status: StatusCode, description: &str) -> Response {
    (
        status,
        Json(json!({"ok": false, "error_code": status.as_u16(), "description": description})),
    )
        .into_response()
}

/// The text Telegram shows, or why it cannot parse the HTML.
fn parse_html(text: &str) -> Result<String, String> {
    let mut shown = String::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        match c {
            '<' => {
                let end = rest.find('>').ok_or("Unclosed start tag")?;
                let tag = rest[1..end].trim_start_matches('/');
                let name = tag.split_whitespace().next().unwrap_or_default();
                if !TAGS.contains(&name) {
                    return Err(format!("Unsupported start tag \"{name}\""));
                }
                rest = &rest[end + 1..];
            }
            '&' => {
                let end = rest.find(';').ok_or("Character entity expected")?;
                let entity = &rest[1..end];
                let character = match entity {
                    "lt" => '<',
                    "gt" => '>',
                    "amp" => '&',
                    "quot" => '"',
                    _ => return Err(format!("Unsupported HTML entity \"&{entity};\"")),
                };
                shown.push(character);
                rest = &rest[end + 1..];
            }
            '>' => return Err("Unexpected end tag".into()),
            c => {
                shown.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    Ok(shown)
}

async fn send_message(
    State(bot): State<Arc<Bot>>,
    Path(path): Path<String>,
    body: String,
) -> Response {
    if path.strip_prefix("bot") != Some(bot.token.as_str()) {
        return refuse(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let Ok(message) = serde_json::from_str::<Value>(&body) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "Bad Request: message text is empty",
        );
    };
    let chat = match &message["chat_id"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return refuse(StatusCode::BAD_REQUEST, "Bad Request: chat_id is empty"),
    };
    if chat != bot.chat {
        return refuse(StatusCode::BAD_REQUEST, "Bad Request: chat not found");
    }
    // About 20 messages a minute in a group: past that, the flood limit until the oldest is a
    // minute old.
    if let Err(wait) = bot
        .sent_at
        .take(&[(20, std::time::Duration::from_secs(60))])
    {
        let seconds = wait.as_secs().max(1);
        return (
                StatusCode::TOO_MANY_REQUESTS,
            Json(json!({"ok": false, "error_code": 429, "description": format!("Too Many Requests: retry after {seconds}"), "parameters": {"retry_after": seconds}})),
        )
            .into_response();
    }
    {
        let mut flood = bot.flood.lock().unwrap();
        if *flood > 0 {
            *flood -= 1;
            let seconds = *bot.retry_after.lock().unwrap();
            return (
                StatusCode::TOO_MANY_REQUESTS,
                Json(json!({"ok": false, "error_code": 429, "description": format!("Too Many Requests: retry after {seconds}"), "parameters": {"retry_after": seconds}})),
            )
                .into_response();
        }
    }
    let text = message["text"].as_str().unwrap_or_default();
    let shown = if message["parse_mode"] == "HTML" {
        match parse_html(text) {
            Ok(shown) => shown,
            Err(reason) => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    &format!("Bad Request: can't parse entities: {reason}"),
                );
            }
        }
    } else {
        text.to_owned()
    };
    if shown.trim().is_empty() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "Bad Request: message text is empty",
        );
    }
    if shown.chars().count() > 4096 {
        return refuse(StatusCode::BAD_REQUEST, "Bad Request: message is too long");
    }
    bot.accepted.lock().unwrap().push(message.clone());
    Json(json!({"ok": true, "result": {"message_id": 1, "text": shown}})).into_response()
}
