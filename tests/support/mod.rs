//! Local fakes of the outside world, bound to 127.0.0.1 on port 0.
#![allow(dead_code)] // each test binary uses its own part of the support code

pub mod chinaz;
pub mod dingtalk;
pub mod dynamodb;
pub mod feishu;
pub mod globalping;
pub mod lambda;
pub mod moto;
pub mod receiver;
pub mod scripted;
pub mod site;
pub mod slack;
pub mod store_contract;
pub mod telegram;
pub mod tencent;
pub mod wecom;

use std::net::SocketAddr;

use tokio::net::TcpListener;

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
