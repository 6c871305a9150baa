//! Reading what an upstream answers, never more than a cap: an endless or huge reply is an error,
//! not a process that grows past any Lambda memory size.

/// The most of a reply kept from each kind of upstream.
pub mod caps {
    /// A speed-test setup page (the live chinaz page is about 200 KB).
    pub const SPEEDTEST_PAGE: usize = 2 * 1024 * 1024;
    /// One speed-test node's reply (a few hundred bytes, with the node's headers quoted).
    pub const SPEEDTEST_NODE: usize = 64 * 1024;
    /// A Globalping measurement (500 probes with their timings and headers).
    pub const GLOBALPING: usize = 8 * 1024 * 1024;
    /// A Tencent Cloud API answer (a page of 50 topics with their partitions).
    pub const TENCENT: usize = 8 * 1024 * 1024;
    /// A chat robot's answer (`{"errcode":0,"errmsg":"ok"}`).
    pub const ROBOT: usize = 64 * 1024;
}

/// Why a reply could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// It went on past the cap.
    #[error("the answer is larger than {} KiB, more than this service ever sends", .limit / 1024)]
    TooLarge {
        /// The cap, bytes.
        limit: usize,
    },
    /// The connection failed or timed out while it was read.
    #[error("{0}")]
    Transport(reqwest::Error),
}

impl BodyError {
    /// The error as it may be shown: without the URL (which can carry a secret), and a timeout
    /// called a timeout.
    pub fn shown(&self) -> String {
        match self {
            BodyError::TooLarge { .. } => self.to_string(),
            BodyError::Transport(e) => describe(e),
        }
    }
}

/// Reads a reply's body, at most `limit` bytes; past it, [`BodyError::TooLarge`] without reading on.
pub async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|declared| declared > limit as u64)
    {
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A request error in words, without its URL: a timeout is a timeout, a body cut short says so,
/// and the innermost cause is named (reqwest's own words, "error decoding response body", hide it).
pub fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return "no complete answer in time".into();
    }
    let mut innermost: &dyn std::error::Error = error;
    while let Some(source) = innermost.source() {
        innermost = source;
    }
    let outer = error.to_string();
    let inner = innermost.to_string();
    let base = outer.split(" for url").next().unwrap_or(&outer).to_owned();
    if inner == outer || inner.is_empty() {
        base
    } else {
        format!("{base}: {inner}")
    }
}
