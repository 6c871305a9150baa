//! DynamoDB (`STATE_TABLE`): one item per incident and one per tick, under the function's partition.
//!
//! Table: partition key `pk` (the function), sort key `sk` (`incident#<key>` or `tick#<id>`), TTL
//! attribute `expires_at`. Incident items carry `state` (JSON) and `version`; every write is
//! conditional, so overlapping invocations cannot both claim a notice or a tick.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};

use super::{StateStore, StoreError, TICK_MEMORY_HOURS, Versioned, expires_at};
use crate::alerting::lifecycle::Incident;

/// The state store in a DynamoDB table.
pub struct DynamoDbStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoDbStore {
    /// A store in `table`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DynamoDbStore {
            client,
            table: table.into(),
        }
    }
}

fn unavailable<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> StoreError {
    let detail = match error {
        SdkError::ServiceError(service) => format!(
            "{}: {}",
            service.err().code().unwrap_or("UnknownError"),
            service.err().message().unwrap_or_default()
        ),
        SdkError::TimeoutError(_) => "DynamoDB did not answer in time".into(),
        SdkError::DispatchFailure(_) => "could not reach DynamoDB".into(),
        _ => "the DynamoDB request failed".into(),
    };
    StoreError::Unavailable(detail)
}

fn string(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn number(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn decode(item: &HashMap<String, AttributeValue>) -> Result<Versioned, StoreError> {
    let state = item
        .get("state")
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| StoreError::Corrupt("an incident item has no state".into()))?;
    let incident: Incident = serde_json::from_str(state)
        .map_err(|e| StoreError::Corrupt(format!("an incident's state is not readable: {e}")))?;
    let version = item
        .get("version")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| StoreError::Corrupt(format!("{} has no version", incident.key)))?;
    Ok(Versioned { incident, version })
}

#[async_trait]
impl StateStore for DynamoDbStore {
    async fn record_tick(
        &self,
        function: &str,
        tick_id: &str,
        time: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let expires = time + Duration::hours(TICK_MEMORY_HOURS);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", string(function))
            .item("sk", string(format!("tick#{tick_id}")))
            .item("expires_at", number(expires.timestamp()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(false)
            }
            Err(e) => Err(unavailable(&e)),
        }
    }

    async fn load(&self, function: &str) -> Result<Vec<Versioned>, StoreError> {
        let mut incidents = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .key_condition_expression("pk = :function AND begins_with(sk, :incidents)")
                .expression_attribute_values(":function", string(function))
                .expression_attribute_values(":incidents", string("incident#"))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| unavailable(&e))?;
            for item in page.items() {
                incidents.push(decode(item)?);
            }
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(incidents),
            }
        }
    }

    async fn save(
        &self,
        incident: &Incident,
        expected: Option<u64>,
    ) -> Result<Option<u64>, StoreError> {
        let state = serde_json::to_string(incident)
            .map_err(|e| StoreError::Unavailable(format!("cannot encode the state: {e}")))?;
        let version = expected.unwrap_or(0) + 1;
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", string(&incident.function))
            .item("sk", string(format!("incident#{}", incident.key)))
            .item("state", string(state))
            .item("version", number(version));
        if let Some(at) = expires_at(incident) {
            request = request.item("expires_at", number(at.timestamp()));
        }
        request = match expected {
            None => request.condition_expression("attribute_not_exists(pk)"),
            Some(current) => request
                .condition_expression("#version = :expected")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":expected", number(current)),
        };
        match request.send().await {
            Ok(_) => Ok(Some(version)),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(None)
            }
            Err(e) => Err(unavailable(&e)),
        }
    }
}
