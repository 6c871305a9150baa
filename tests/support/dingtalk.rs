//! A fake DingTalk custom robot, as strict as the real one: the token, the 加签 signature
//! (recomputed: HMAC-SHA256 keyed by the secret over timestamp + "\n" + secret) and its timestamp
//! (within an hour), the markdown message's fields and length, and 20 messages a minute (then
//! 130101). Refusals carry the real codes and today's Chinese `errmsg`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::response::Json;
use axum::routing::post;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// The longest markdown text the fake takes, in bytes.
pub const TEXT_LIMIT: usize = 20_000;

struct Robot {
    token: String,
    secret: Option<String>,
    accepted: Mutex<Vec<Value>>,
    sent_at: super::RateWindow,
}

/// The fake robot.
#[derive(Clone)]
pub struct FakeDingTalk {
    pub address: SocketAddr,
    robot: Arc<Robot>,
}

impl FakeDingTalk {
    /// A robot with this token, signing with `secret` when given.
    pub async fn start(token: &str, secret: Option<&str>) -> Self {
        let robot = Arc::new(Robot {
            token: token.to_owned(),
            secret: secret.map(str::to_owned),
            accepted: Mutex::new(Vec::new()),
            sent_at: super::RateWindow::default(),
        });
        let router = Router::new()
            .route("/robot/send", post(send))
            .with_state(Arc::clone(&robot));
        FakeDingTalk {
            address: super::serve(router).await,
            robot,
        }
    }

    /// The webhook URL (without the signature, which the sender adds).
    pub fn url(&self) -> String {
        format!(
            "http://{}/robot/send?access_token={}",
            self.address, self.robot.token
        )
    }

    /// Messages accepted so far.
    pub fn accepted(&self) -> Vec<Value> {
        self.robot.accepted.lock().unwrap().clone()
    }
}

/// The signature DingTalk expects (before URL encoding).
pub fn expected_sign(secret: &str, timestamp: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}\n{secret}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn refuse(code: i64, message: &str) -> Json<Value> {
    Json(json!({"errcode": code, "errmsg": message}))
}

async fn send(
    State(robot): State<Arc<Robot>>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    body: String,
) -> Json<Value> {
    if query.get("access_token") != Some(&robot.token) {
        return refuse(300001, "错误描述:token不存在;解决方案:请确认token是否正确");
    }
    if let Some(secret) = &robot.secret {
        let (Some(timestamp), Some(sign)) = (query.get("timestamp"), query.get("sign")) else {
            return refuse(
                310000,
                "错误描述:机器人发送签名不匹配;解决方案:请确认签名和生成签名的时间戳必须都放在调用的请求URL中",
            );
        };
        let Ok(ms) = timestamp.parse::<i64>() else {
            return refuse(
                310000,
                "错误描述:机器人发送签名不匹配;解决方案:请确认签名和生成签名的时间戳必须都放在调用的请求URL中",
            );
        };
        if (chrono::Utc::now().timestamp_millis() - ms).abs() > 3_600_000 {
            return refuse(
                310000,
                "错误描述:机器人发送签名过期;解决方案:请保持发送的时间戳和服务器时间在1小时以内",
            );
        }
        if *sign != expected_sign(secret, timestamp) {
            return refuse(
                310000,
                "错误描述:机器人发送签名不匹配;解决方案:请确认签名和生成签名的时间戳必须都放在调用的请求URL中",
            );
        }
    }
    let Ok(message) = serde_json::from_str::<Value>(&body) else {
        return refuse(40035, "缺少参数 json");
    };
    let text = message["markdown"]["text"].as_str().unwrap_or_default();
    let title = message["markdown"]["title"].as_str().unwrap_or_default();
    if message["msgtype"] != "markdown" || text.is_empty() || title.is_empty() {
        return refuse(40035, "缺少参数 markdown.title / markdown.text");
    }
    if text.len() > TEXT_LIMIT {
        return refuse(460101, "message too long, exceed 20000 bytes");
    }
    if robot
        .sent_at
        .take(&[(20, Duration::from_secs(60))])
        .is_err()
    {
        return refuse(130101, "send too fast, exceed 20 times per minute");
    }
    robot.accepted.lock().unwrap().push(message);
    refuse(0, "ok")
}
