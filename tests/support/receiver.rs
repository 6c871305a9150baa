//! A webhook receiver: records each post's headers and body, and answers what it is told.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;

#[derive(Default)]
struct Inbox {
    received: Mutex<Vec<(HeaderMap, String)>>,
    answers: Mutex<Vec<u16>>,
}

/// The fake receiver.
#[derive(Clone)]
pub struct FakeReceiver {
    pub address: SocketAddr,
    inbox: Arc<Inbox>,
}

impl FakeReceiver {
    /// A receiver on `/hooks/lookout`.
    pub async fn start() -> Self {
        let inbox = Arc::new(Inbox::default());
        let router = Router::new()
            .route("/hooks/lookout", post(receive))
            .with_state(Arc::clone(&inbox));
        FakeReceiver {
            address: super::serve(router).await,
            inbox,
        }
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("http://{}/hooks/lookout", self.address)
    }

    /// The next posts get these statuses, in order; then 204.
    pub fn answer(&self, statuses: &[u16]) {
        self.inbox
            .answers
            .lock()
            .unwrap()
            .extend_from_slice(statuses);
    }

    /// Every post so far: headers and body.
    pub fn received(&self) -> Vec<(HeaderMap, String)> {
        self.inbox.received.lock().unwrap().clone()
    }
}

async fn receive(State(inbox): State<Arc<Inbox>>, headers: HeaderMap, body: String) -> StatusCode {
    inbox.received.lock().unwrap().push((headers, body));
    let mut answers = inbox.answers.lock().unwrap();
    let status = if answers.is_empty() {
        204
    } else {
        answers.remove(0)
    };
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}
