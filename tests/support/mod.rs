//! Local fakes of the outside world, bound to 127.0.0.1 on port 0.
#![allow(dead_code)] // each test binary uses its own part of the support code

pub mod chinaz;
pub mod counting_proxy;
pub mod dingtalk;
pub mod dns;
pub mod dynamodb;
pub mod feishu;
pub mod function_url;
pub mod globalping;
pub mod lambda;
pub mod moto;
pub mod receiver;
pub mod scripted;
pub mod site;
pub mod slack;
pub mod sshd;
pub mod store_contract;
pub mod telegram;
pub mod tencent;
pub mod wecom;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;

/// The moments of a fake's recent requests, for its rate limits.
#[derive(Default)]
pub struct RateWindow(Mutex<VecDeque<Instant>>);

impl RateWindow {
    /// Takes one request when, for every `(limit, per)`, fewer than `limit` were taken within the
    /// last `per`; otherwise takes nothing and says how long until one more would fit.
    pub fn take(&self, limits: &[(usize, Duration)]) -> Result<(), Duration> {
        let now = Instant::now();
        let mut taken = self.0.lock().unwrap();
        let longest = limits.iter().map(|(_, per)| *per).max().unwrap_or_default();
        while taken
            .front()
            .is_some_and(|t| now.duration_since(*t) >= longest)
        {
            taken.pop_front();
        }
        for (limit, per) in limits {
            let recent: Vec<&Instant> = taken
                .iter()
                .filter(|t| now.duration_since(**t) < *per)
                .collect();
            if recent.len() >= *limit {
                return Err(per.saturating_sub(now.duration_since(*recent[0])));
            }
        }
        taken.push_back(now);
        Ok(())
    }
}

/// Serves an axum router on 127.0.0.1:0 until the test ends; returns its address.
pub async fn serve(router: axum::Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let address = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    address
}
