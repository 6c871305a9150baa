//! The console channel: prints the digest, for local runs and when no channel is configured.

use std::io::Write;

use async_trait::async_trait;

use super::{DeliveryError, Notifier};
use crate::alerting::{Digest, render};

/// Prints each digest to standard error (the function's log under Lambda).
pub struct ConsoleNotifier;

#[async_trait]
impl Notifier for ConsoleNotifier {
    fn channel(&self) -> &'static str {
        "console"
    }

    async fn deliver(&self, digest: &Digest) -> Result<(), DeliveryError> {
        let text = render::plain_text(digest);
        writeln!(std::io::stderr().lock(), "{text}").map_err(|e| DeliveryError {
            reason: format!("could not write to standard error: {e}"),
        })
    }
}
