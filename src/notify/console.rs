//! The console channel: prints the digest, for local runs and when no channel is configured.

use std::io::Write;

use async_trait::async_trait;

use super::{DeliveryError, Notifier, Receipt};
use crate::alerting::Digest;
use crate::alerting::render::{self, Style};

/// Prints each digest to standard error (the function's log under Lambda).
pub struct ConsoleNotifier {
    style: Style,
}

impl ConsoleNotifier {
    /// A console channel writing in this style.
    pub fn new(style: Style) -> Self {
        ConsoleNotifier { style }
    }
}

#[async_trait]
impl Notifier for ConsoleNotifier {
    fn channel(&self) -> &'static str {
        "console"
    }

    async fn deliver(&self, digest: &Digest) -> Result<Receipt, DeliveryError> {
        let text = render::plain_text(digest, &self.style);
        writeln!(std::io::stderr().lock(), "{text}")
            .map(|()| Receipt::default())
            .map_err(|e| {
                DeliveryError::permanent(format!("could not write to standard error: {e}"))
            })
    }
}
