//! The shared AWS SDK configuration: region, credentials and endpoints from the standard variables
//! (`AWS_REGION`, `AWS_ENDPOINT_URL_SESV2`, ...), an HTTPS client on rustls with *ring*, and no SDK
//! retries (callers retry within the invocation's deadline and count the attempts they report).

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

static CONFIG: tokio::sync::OnceCell<SdkConfig> = tokio::sync::OnceCell::const_new();

/// The SDK configuration, loaded once at cold start and shared by every client.
pub async fn sdk_config() -> SdkConfig {
    CONFIG.get_or_init(load).await.clone()
}

async fn load() -> SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_attempt_timeout(Duration::from_secs(10))
                .build(),
        )
        .load()
        .await
}
