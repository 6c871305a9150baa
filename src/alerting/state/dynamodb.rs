//! DynamoDB (`STATE_TABLE`): one item per incident and one per finished tick, under the function's
//! partition; daily budgets under `budget`.
//!
//! Table: partition key `pk` (the function, `budget`, `ping#<token hash>`, `events#<token hash>`,
//! `event-ids#<token hash>` or `ingest`), sort key `sk` (`incident#<key>`, `tick#<id>`,
//! `<budget>`, `ping`, an event's time and id, an event's id, or `refused#<minute>`), TTL
//! attribute `expires_at`. Incident items
//! carry `state` (JSON) and `version`; every incident write is conditional, so overlapping
//! invocations cannot both claim a notice. A commit of up to 64 writes sends them as single
//! `PutItem`s at once; a larger one (a fleet failing together) as `TransactWriteItems` of up to
//! 100, each sent again without the writes whose condition failed. A heartbeat's ping record is
//! one item whose fields are attributes, so each ping is one conditional `UpdateItem` (no read
//! first).
//!
//! The history is one item per function per tick (`history#<function>#<day>`, sort key the tick's
//! time and the chunk: `1733477400#0`), its monitors in [`crate::history`]'s compact form deflated
//! (binary `z`), as many items as the 400 KB limit asks (two at 10,000 monitors), all put by one
//! `BatchWriteItem`, kept [`crate::history::KEPT_DAYS`] days.
//!
//! DynamoDB's own limits shape the items: a sort key holds at most 1,024 bytes, so a long incident
//! key or tick id is stored by its SHA-256 (the whole key stays in the state); an item holds at
//! most 400 KB, so a state is capped ([`super::encode`]). TTL deletion is lazy (it can take days),
//! so every read leaves out what has expired.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, CancellationReason, Put, TransactWriteItem};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use sha2::{Digest, Sha256};

use super::{
    Budgets, Commit, Incidents, Ledger, StoreError, TICK_MEMORY_HOURS, Versioned, encode,
    expires_at,
};
use crate::alerting::lifecycle::Incident;
use crate::history::{CHUNK_BYTES, Closed, History, KEPT_DAYS, Record, Rollup};
use crate::pings::{Ping, PingRecord, Signal};

/// Sort keys longer than this are stored by their hash (DynamoDB allows 1,024 bytes).
const MAX_PLAIN_SORT_KEY: usize = 512;
/// The partition of daily budgets.
const BUDGETS: &str = "budget";
/// The sort key of a ping record (its partition is `ping#<token hash>`).
const PING: &str = "ping";
/// The partition prefix of a host's program events (`events#<token hash>`, sorted by
/// [`crate::events::ProcessEvent::sort_key`]).
const EVENTS: &str = "events";
/// The partition prefix of the ids of a host's events kept (`event-ids#<token hash>`, sort key
/// the id): a resend is known by its id alone.
const EVENT_IDS: &str = "event-ids";
/// The partition of the ingest's own records: its refusals per minute (`refused#<minute>`).
const INGEST: &str = "ingest";
/// The sort key prefix of a minute's refusals.
const REFUSED: &str = "refused";
/// A host's events read at most per tick (the newest), so a crash loop cannot stall one.
const MAX_EVENTS_READ: usize = 5_000;
/// The partition prefix of a function's history of a day (`history#site-status#2026-12-06`).
const HISTORY: &str = "history";
/// Items BatchWriteItem takes at once.
const BATCH_WRITE_ITEMS: usize = 25;
/// Keys BatchGetItem takes at once.
const BATCH_GET_KEYS: usize = 100;
/// Rounds of BatchGetItem for keys DynamoDB left unprocessed (throttled) before giving up.
const BATCH_GET_ROUNDS: u32 = 5;

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

    /// Every item `query` finds, page after page, until at least `most` are read (a query's
    /// filter applies per page, so pages are read until the last or the cap).
    async fn query_all(
        &self,
        query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
        most: usize,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        let mut items = Vec::new();
        self.each_page(query, |page| {
            items.extend(page.iter().cloned());
            Ok(items.len() < most)
        })
        .await?;
        Ok(items)
    }

    /// Hands each page of what `query` finds to `each` before reading the next, until the last
    /// page or until `each` says it has enough (false).
    async fn each_page(
        &self,
        query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
        mut each: impl FnMut(&[HashMap<String, AttributeValue>]) -> Result<bool, StoreError> + Send,
    ) -> Result<(), StoreError> {
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = query
                .clone()
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| unavailable(&e))?;
            let more = each(page.items())?;
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() && more => start = Some(key.clone()),
                _ => return Ok(()),
            }
        }
    }

    async fn get_item(
        &self,
        pk: &str,
        sk: String,
    ) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", string(pk))
            .key("sk", string(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(output.item.filter(|item| !item_expired(item, Utc::now())))
    }

    /// An incident's conditional write: made only if the stored version is still `expected`
    /// (`None`: if there is none, or only one whose TTL has passed but which DynamoDB has not
    /// deleted yet).
    fn incident_put(&self, incident: &Incident, expected: Option<u64>) -> Result<Put, StoreError> {
        let version = expected.unwrap_or(0) + 1;
        let mut put = Put::builder()
            .table_name(&self.table)
            .item("pk", string(&incident.function))
            .item("sk", string(sort_key("incident#", &incident.key)))
            .item("state", string(encode(incident)?))
            .item("version", number(version));
        if let Some(at) = expires_at(incident) {
            put = put.item("expires_at", number(at.timestamp()));
        }
        put = match expected {
            None => put
                .condition_expression("attribute_not_exists(pk) OR expires_at <= :now")
                .expression_attribute_values(":now", number(Utc::now().timestamp())),
            Some(current) => put
                .condition_expression("#version = :expected")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":expected", number(current)),
        };
        put.build()
            .map_err(|e| StoreError::Unavailable(format!("cannot build an incident's write: {e}")))
    }

    /// One conditional write on its own: true when it was made.
    async fn put_one(&self, put: Put) -> Result<bool, StoreError> {
        let sent = self
            .client
            .put_item()
            .table_name(put.table_name)
            .set_item(Some(put.item))
            .set_condition_expression(put.condition_expression)
            .set_expression_attribute_names(put.expression_attribute_names)
            .set_expression_attribute_values(put.expression_attribute_values)
            .send()
            .await;
        conditional(sent)
    }

    /// Many conditional writes as transactions: per write, true when it was made. Each transaction
    /// is sent again without the writes whose condition failed (DynamoDB cancels a transaction
    /// whole, and says which of its writes were the cause), and after a pause when it met another
    /// writer or a throttle, at most [`TRANSACTION_ROUNDS`] times.
    async fn put_many(&self, puts: &[Put]) -> Result<Vec<bool>, StoreError> {
        use futures::StreamExt as _;
        let sizes: Vec<usize> = puts.iter().map(item_bytes).collect();
        // Every transaction is seen through, even after one fails, so none is left half known.
        let settled: Vec<Result<Vec<(usize, bool)>, StoreError>> = futures::stream::iter(
            transactions(&sizes)
                .into_iter()
                .map(|group| self.transact(puts, group)),
        )
        .buffer_unordered(TRANSACTIONS_AT_ONCE)
        .collect()
        .await;
        let mut made = vec![false; puts.len()];
        for settled in settled {
            for (index, written) in settled? {
                made[index] = written;
            }
        }
        Ok(made)
    }

    /// The writes `group` (indexes into `puts`) as one transaction, until each is made or lost.
    async fn transact(
        &self,
        puts: &[Put],
        mut group: Vec<usize>,
    ) -> Result<Vec<(usize, bool)>, StoreError> {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
        let mut settled = Vec::with_capacity(group.len());
        for round in 0..TRANSACTION_ROUNDS {
            let actions = group
                .iter()
                .map(|&i| TransactWriteItem::builder().put(puts[i].clone()).build())
                .collect();
            let sent = self
                .client
                .transact_write_items()
                .set_transact_items(Some(actions))
                .send()
                .await;
            let reasons = match sent {
                Ok(_) => {
                    settled.extend(group.iter().map(|&i| (i, true)));
                    return Ok(settled);
                }
                Err(error) => match error.as_service_error() {
                    Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                        cancelled.cancellation_reasons().to_vec()
                    }
                    _ => return Err(unavailable(&error)),
                },
            };
            let outcomes = cancelled(&reasons, group.len())?;
            let busy = outcomes.contains(&Cancelled::Busy);
            let mut again = Vec::with_capacity(group.len());
            for (index, outcome) in group.into_iter().zip(outcomes) {
                match outcome {
                    Cancelled::Lost => settled.push((index, false)),
                    Cancelled::Again | Cancelled::Busy => again.push(index),
                }
            }
            group = again;
            if group.is_empty() {
                return Ok(settled);
            }
            if busy {
                tokio::time::sleep(std::time::Duration::from_millis(50 << round)).await;
            }
        }
        Err(StoreError::Unavailable(format!(
            "{} incident writes still met other writers after {TRANSACTION_ROUNDS} tries",
            group.len()
        )))
    }
}

/// Why DynamoDB cancelled a transaction, for one of its writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cancelled {
    /// Its condition failed: another writer got there first.
    Lost,
    /// Nothing was wrong with it: it goes again without the writes that were.
    Again,
    /// It met another transaction or a throttle: it goes again after a pause.
    Busy,
}

/// Each write's part in a cancelled transaction of `writes`, from DynamoDB's reasons (one per
/// write, in order; `None` for a write that was not a cause). A reason that is neither a lost
/// condition nor a passing conflict (a validation error, say) is the store's failure.
fn cancelled(reasons: &[CancellationReason], writes: usize) -> Result<Vec<Cancelled>, StoreError> {
    if reasons.len() != writes {
        return Err(StoreError::Unavailable(format!(
            "DynamoDB cancelled a transaction of {writes} writes and gave {} reasons",
            reasons.len()
        )));
    }
    reasons
        .iter()
        .map(|reason| match reason.code().unwrap_or("None") {
            "None" => Ok(Cancelled::Again),
            "ConditionalCheckFailed" => Ok(Cancelled::Lost),
            "TransactionConflict"
            | "ThrottlingError"
            | "ProvisionedThroughputExceeded"
            | "RequestLimitExceeded" => Ok(Cancelled::Busy),
            code => Err(StoreError::Unavailable(format!(
                "DynamoDB refused an incident write: {code}: {}",
                reason.message().unwrap_or_default()
            ))),
        })
        .collect()
}

/// The writes (by their items' sizes) split into transactions DynamoDB takes: at most
/// [`TRANSACTION_WRITES`] writes and [`TRANSACTION_BYTES`] of items each, in order.
fn transactions(sizes: &[usize]) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut bytes = 0;
    for (index, &size) in sizes.iter().enumerate() {
        match groups.last_mut() {
            Some(group)
                if group.len() < TRANSACTION_WRITES && bytes + size <= TRANSACTION_BYTES =>
            {
                group.push(index);
                bytes += size;
            }
            _ => {
                groups.push(vec![index]);
                bytes = size;
            }
        }
    }
    groups
}

/// An item's size as DynamoDB counts it, or a little more: its attribute names and values.
fn item_bytes(put: &Put) -> usize {
    put.item
        .iter()
        .map(|(name, value)| {
            name.len()
                + match value {
                    AttributeValue::S(text) => text.len(),
                    AttributeValue::N(number) => number.len(),
                    _ => 64,
                }
        })
        .sum()
}

/// A sort key of at most [`MAX_PLAIN_SORT_KEY`] bytes: `prefix` + the key, or its SHA-256.
pub fn sort_key(prefix: &str, key: &str) -> String {
    if prefix.len() + key.len() <= MAX_PLAIN_SORT_KEY {
        format!("{prefix}{key}")
    } else {
        format!(
            "{prefix}sha256:{}",
            hex::encode(Sha256::digest(key.as_bytes()))
        )
    }
}

/// A conditional write's error: whether it was only that the condition did not hold.
trait ConditionFailed {
    fn condition_failed(&self) -> bool;
}

impl ConditionFailed for aws_sdk_dynamodb::operation::put_item::PutItemError {
    fn condition_failed(&self) -> bool {
        self.is_conditional_check_failed_exception()
    }
}

impl ConditionFailed for aws_sdk_dynamodb::operation::update_item::UpdateItemError {
    fn condition_failed(&self) -> bool {
        self.is_conditional_check_failed_exception()
    }
}

impl ConditionFailed
    for aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError
{
    fn condition_failed(&self) -> bool {
        matches!(
            self,
            Self::TransactionCanceledException(t)
                if t.cancellation_reasons()
                    .iter()
                    .any(|r| r.code() == Some("ConditionalCheckFailed"))
        )
    }
}

/// A conditional write's outcome: `true` when it was made, `false` when its condition did not hold;
/// any other failure is the store's.
fn conditional<T, E: ProvideErrorMetadata + ConditionFailed, R>(
    sent: Result<T, SdkError<E, R>>,
) -> Result<bool, StoreError> {
    match sent {
        Ok(_) => Ok(true),
        Err(SdkError::ServiceError(e)) if e.err().condition_failed() => Ok(false),
        Err(e) => Err(unavailable(&e)),
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

fn item_expired(item: &HashMap<String, AttributeValue>, now: DateTime<Utc>) -> bool {
    item.get("expires_at")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse::<i64>().ok())
        .is_some_and(|at| at <= now.timestamp())
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

fn ping_key(token_hash: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_owned(), string(format!("ping#{token_hash}"))),
        ("sk".to_owned(), string(PING)),
    ])
}

fn millis(at: DateTime<Utc>) -> AttributeValue {
    number(at.timestamp_millis())
}

/// The most incident writes of one commit sent as single writes, all at once (each holds a
/// connection, and Lambda allows 1,024 descriptors); a larger commit goes as transactions.
const COMMIT_CONCURRENCY: usize = 64;
/// The most writes TransactWriteItems takes at once.
const TRANSACTION_WRITES: usize = 100;
/// The most bytes of items one transaction holds: DynamoDB's 4 MB, less a margin (sizes here are
/// counted a little over).
const TRANSACTION_BYTES: usize = 4_000_000;
/// Transactions of one commit in flight at once.
const TRANSACTIONS_AT_ONCE: usize = 8;
/// Times one transaction is sent before its writes are given up as unavailable.
const TRANSACTION_ROUNDS: u32 = 5;

/// Times a ping is written again after another ping changed its record first.
const PING_ATTEMPTS: usize = 4;

/// A ping record as its item, at `version`.
fn encode_ping(
    token_hash: &str,
    record: &PingRecord,
    version: u64,
) -> Result<HashMap<String, AttributeValue>, StoreError> {
    let mut item = ping_key(token_hash);
    item.insert("monitor".into(), string(&record.monitor));
    item.insert("last_at".into(), millis(record.last_at));
    item.insert("last_signal".into(), string(record.last_signal.as_str()));
    item.insert("ended_ok".into(), AttributeValue::Bool(record.ended_ok));
    item.insert("v".into(), number(version));
    let times = [
        ("ended_at", record.ended_at),
        ("started_at", record.started_at),
        ("resources_at", record.resources_at),
        ("ignored_at", record.ignored_at),
    ];
    for (name, time) in times {
        if let Some(time) = time {
            item.insert(name.into(), millis(time));
        }
    }
    let numbers = [
        ("exit_status", record.exit_status.map(i64::from)),
        ("last_duration", record.last_duration),
        (
            "last_ms",
            record.last_ms.and_then(|n| i64::try_from(n).ok()),
        ),
        (
            "ignored",
            (record.ignored > 0).then(|| i64::try_from(record.ignored).unwrap_or(i64::MAX)),
        ),
    ];
    for (name, value) in numbers {
        if let Some(value) = value {
            item.insert(name.into(), number(value));
        }
    }
    let corrupt = |e: serde_json::Error| StoreError::Corrupt(format!("a ping record: {e}"));
    let mut texts = vec![
        ("output", record.output.clone()),
        ("last_rid", record.last_rid.clone()),
    ];
    if let Some(resources) = &record.resources {
        texts.push((
            "resources",
            Some(serde_json::to_string(resources).map_err(corrupt)?),
        ));
    }
    if !record.runs.is_empty() {
        texts.push((
            "runs",
            Some(serde_json::to_string(&record.runs).map_err(corrupt)?),
        ));
    }
    if !record.durations.is_empty() {
        texts.push((
            "durations",
            Some(serde_json::to_string(&record.durations).map_err(corrupt)?),
        ));
    }
    for (name, text) in texts {
        if let Some(text) = text {
            item.insert(name.into(), string(text));
        }
    }
    Ok(item)
}

/// A ping record from its item.
fn decode_ping(item: &HashMap<String, AttributeValue>) -> Result<(String, PingRecord), StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("a ping record has no readable {what}"));
    let text = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
    };
    let time = |name: &str| -> Option<DateTime<Utc>> {
        let ms = item.get(name)?.as_n().ok()?.parse::<i64>().ok()?;
        DateTime::from_timestamp_millis(ms)
    };
    let whole = |name: &str| -> Option<i64> { item.get(name)?.as_n().ok()?.parse().ok() };
    let hash = text("pk")
        .and_then(|pk| pk.strip_prefix("ping#"))
        .ok_or_else(|| corrupt("key"))?;
    let record = PingRecord {
        monitor: text("monitor").unwrap_or_default().to_owned(),
        last_at: time("last_at").ok_or_else(|| corrupt("last_at"))?,
        last_signal: text("last_signal")
            .and_then(Signal::parse)
            .ok_or_else(|| corrupt("last_signal"))?,
        ended_at: time("ended_at"),
        ended_ok: item
            .get("ended_ok")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false),
        exit_status: item
            .get("exit_status")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok()),
        started_at: time("started_at"),
        output: text("output").map(str::to_owned),
        resources: text("resources").and_then(|json| serde_json::from_str(json).ok()),
        resources_at: time("resources_at"),
        runs: text("runs")
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_default(),
        last_duration: whole("last_duration"),
        durations: text("durations")
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_default(),
        last_rid: text("last_rid").map(str::to_owned),
        last_ms: whole("last_ms").and_then(|n| u64::try_from(n).ok()),
        ignored: whole("ignored")
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0),
        ignored_at: time("ignored_at"),
    };
    Ok((hash.to_owned(), record))
}

#[async_trait]
impl Incidents for DynamoDbStore {
    async fn tick_finished(&self, function: &str, tick_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .get_item(function, sort_key("tick#", tick_id))
            .await?
            .is_some())
    }

    async fn load(&self, function: &str) -> Result<Vec<Versioned>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("pk = :function AND begins_with(sk, :incidents)")
            .filter_expression("attribute_not_exists(expires_at) OR expires_at > :now")
            .expression_attribute_values(":function", string(function))
            .expression_attribute_values(":incidents", string("incident#"))
            .expression_attribute_values(":now", number(Utc::now().timestamp()));
        self.query_all(query, usize::MAX)
            .await?
            .iter()
            .map(decode)
            .collect()
    }

    async fn get(&self, function: &str, key: &str) -> Result<Option<Versioned>, StoreError> {
        self.get_item(function, sort_key("incident#", key))
            .await?
            .map(|item| decode(&item))
            .transpose()
    }

    async fn commit(&self, commit: &Commit<'_>) -> Result<Vec<Option<u64>>, StoreError> {
        use futures::StreamExt as _;
        let mut puts = Vec::with_capacity(commit.writes.len());
        for write in &commit.writes {
            puts.push(self.incident_put(write.incident, write.expected)?);
        }
        // A commit that fits in one round of single writes goes out so (one write unit each).
        // A larger one (a whole fleet failing at once) goes as transactions of up to 100 writes:
        // a few requests instead of thousands, each write at two units. Conditional writes cannot
        // be batched otherwise (BatchWriteItem takes no conditions).
        let made: Vec<bool> = if puts.len() <= COMMIT_CONCURRENCY {
            futures::stream::iter(puts.into_iter().map(|put| self.put_one(put)))
                .buffered(COMMIT_CONCURRENCY)
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .collect::<Result<_, _>>()?
        } else {
            self.put_many(&puts).await?
        };
        let versions = commit
            .writes
            .iter()
            .zip(made)
            .map(|(write, made)| made.then_some(write.expected.unwrap_or(0) + 1))
            .collect();
        if let Some((tick_id, time)) = commit.finished_tick {
            let expires = time.max(Utc::now()) + Duration::hours(TICK_MEMORY_HOURS);
            self.client
                .put_item()
                .table_name(&self.table)
                .item("pk", string(commit.function))
                .item("sk", string(sort_key("tick#", tick_id)))
                .item("expires_at", number(expires.timestamp()))
                .send()
                .await
                .map_err(|e| unavailable(&e))?;
        }
        Ok(versions)
    }
}

#[async_trait]
impl Budgets for DynamoDbStore {
    async fn spend(
        &self,
        budget: &str,
        limit: u32,
        expires: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let now = Utc::now().timestamp();
        let key = sort_key("", budget);
        // An expired count starts again at one; a live one grows while under the limit.
        let restart = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", string(BUDGETS))
            .item("sk", string(&key))
            .item("spent", number(1))
            .item("expires_at", number(expires.timestamp()))
            .condition_expression("attribute_not_exists(pk) OR expires_at <= :now")
            .expression_attribute_values(":now", number(now))
            .send()
            .await;
        if conditional(restart)? {
            return Ok(limit >= 1);
        }
        let grow = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", string(BUDGETS))
            .key("sk", string(&key))
            .update_expression("ADD spent :one")
            .condition_expression("spent < :limit AND expires_at > :now")
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":limit", number(limit))
            .expression_attribute_values(":now", number(now))
            .send()
            .await;
        conditional(grow)
    }

    async fn refund(&self, budget: &str) -> Result<(), StoreError> {
        let refunded = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", string(BUDGETS))
            .key("sk", string(sort_key("", budget)))
            .update_expression("ADD spent :minus")
            .condition_expression("spent > :zero")
            .expression_attribute_values(":minus", number(-1))
            .expression_attribute_values(":zero", number(0))
            .send()
            .await;
        // Nothing left to give back is not a failure.
        conditional(refunded).map(drop)
    }
}

#[async_trait]
impl Ledger for DynamoDbStore {
    /// Read, then written conditionally on the version read (the rule is
    /// [`PingRecord::takes`] and [`PingRecord::after`], as in every store): of two pings racing, the
    /// second reads the first's record and is judged against it.
    async fn record_ping(
        &self,
        token_hash: &str,
        monitor: &str,
        ping: &Ping,
        min_interval: chrono::Duration,
    ) -> Result<bool, StoreError> {
        for _ in 0..PING_ATTEMPTS {
            let item = self
                .get_item(&format!("ping#{token_hash}"), PING.to_owned())
                .await?;
            let version = item
                .as_ref()
                .and_then(|i| i.get("v"))
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<u64>().ok());
            let previous = item.as_ref().map(decode_ping).transpose()?.map(|(_, r)| r);
            if previous
                .as_ref()
                .is_some_and(|p| !p.takes(ping, min_interval))
            {
                return Ok(false);
            }
            let record = PingRecord::after(previous.as_ref(), monitor, ping);
            let request = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(encode_ping(
                    token_hash,
                    &record,
                    version.unwrap_or(0) + 1,
                )?))
                .expression_attribute_names("#v", "v");
            let request = match version {
                Some(read) => request
                    .condition_expression("#v = :v")
                    .expression_attribute_values(":v", number(read)),
                // A new record, or one written before records had versions.
                None => request.condition_expression("attribute_not_exists(#v)"),
            };
            if conditional(request.send().await)? {
                return Ok(true);
            }
        }
        Err(StoreError::Unavailable(
            "the ping's record kept changing under other pings: try again".into(),
        ))
    }

    async fn pings(
        &self,
        token_hashes: &[String],
    ) -> Result<HashMap<String, PingRecord>, StoreError> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let mut found = HashMap::new();
        for chunk in token_hashes.chunks(BATCH_GET_KEYS) {
            let keys: Vec<_> = chunk.iter().map(|h| ping_key(h)).collect();
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| StoreError::Unavailable(format!("cannot ask for pings: {e}")))?,
            );
            let mut round = 0;
            while let Some(request) = pending.take() {
                if round == BATCH_GET_ROUNDS {
                    return Err(StoreError::Unavailable(
                        "DynamoDB kept some ping records back (throttled): try again".into(),
                    ));
                }
                if round > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(50 << round)).await;
                }
                round += 1;
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| unavailable(&e))?;
                if let Some(items) = output.responses().and_then(|r| r.get(&self.table)) {
                    for item in items {
                        let (hash, record) = decode_ping(item)?;
                        found.insert(hash, record);
                    }
                }
                pending = output
                    .unprocessed_keys()
                    .and_then(|u| u.get(&self.table))
                    .filter(|k| !k.keys().is_empty())
                    .cloned();
            }
        }
        Ok(found)
    }

    async fn record_event(
        &self,
        token_hash: &str,
        event: &crate::events::ProcessEvent,
        expires: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
        let body = serde_json::to_string(event)
            .map_err(|e| StoreError::Unavailable(format!("cannot encode an event: {e}")))?;
        let now = number(Utc::now().timestamp());
        // Once: the event's id is marked in the same transaction as the event is kept, so a resend
        // (whatever its time) finds the mark. An expired item TTL has not deleted yet counts as
        // gone.
        let put = |pk: String, sk: String, event: Option<String>| {
            let mut builder = Put::builder()
                .table_name(&self.table)
                .item("pk", string(pk))
                .item("sk", string(sk))
                .item("expires_at", number(expires.timestamp()))
                .condition_expression("attribute_not_exists(pk) OR expires_at <= :now")
                .expression_attribute_values(":now", now.clone());
            if let Some(event) = event {
                builder = builder.item("event", string(event));
            }
            builder
                .build()
                .map(|put| TransactWriteItem::builder().put(put).build())
                .map_err(|e| StoreError::Unavailable(format!("cannot build the write: {e}")))
        };
        let written = self
            .client
            .transact_write_items()
            .transact_items(put(
                format!("{EVENT_IDS}#{token_hash}"),
                // At most 512 bytes (the ingest checks): within DynamoDB's 1,024 for a sort key.
                event.id.clone(),
                None,
            )?)
            .transact_items(put(
                format!("{EVENTS}#{token_hash}"),
                event.sort_key(),
                Some(body),
            )?)
            .send()
            .await;
        conditional(written)
    }

    async fn events(
        &self,
        token_hash: &str,
    ) -> Result<Vec<crate::events::ProcessEvent>, StoreError> {
        // Newest first, so a flood past the cap keeps the latest.
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .filter_expression("expires_at > :now")
            .expression_attribute_values(":pk", string(format!("{EVENTS}#{token_hash}")))
            .expression_attribute_values(":now", number(Utc::now().timestamp()))
            .scan_index_forward(false)
            .consistent_read(true);
        let mut events = self
            .query_all(query, MAX_EVENTS_READ)
            .await?
            .iter()
            .take(MAX_EVENTS_READ)
            .map(|item| {
                let body = item
                    .get("event")
                    .and_then(|v| v.as_s().ok())
                    .ok_or_else(|| StoreError::Unavailable("an event item has no event".into()))?;
                serde_json::from_str(body).map_err(|e| {
                    StoreError::Unavailable(format!("an event item is not an event: {e}"))
                })
            })
            .collect::<Result<Vec<crate::events::ProcessEvent>, StoreError>>()?;
        events.reverse();
        Ok(events)
    }

    async fn record_ingest_refusal(&self, at: DateTime<Utc>) -> Result<(), StoreError> {
        let minute = super::minute_of(at);
        let expires = minute + Duration::days(super::REFUSAL_MEMORY_DAYS);
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", string(INGEST))
            .key("sk", string(refusal_key(minute)))
            .update_expression("ADD refused :one SET expires_at = :expires")
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":expires", number(expires.timestamp()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| unavailable(&e))
    }

    async fn ingest_refusals(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, u64)>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", string(INGEST))
            .expression_attribute_values(":from", string(refusal_key(super::minute_of(since))))
            .expression_attribute_values(":to", string(format!("{REFUSED}#~")))
            .consistent_read(true);
        let found = self.query_all(query, usize::MAX).await?;
        Ok(found
            .iter()
            .filter_map(|item| {
                let minute = item
                    .get("sk")?
                    .as_s()
                    .ok()?
                    .strip_prefix(&format!("{REFUSED}#"))
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())?;
                let count = item.get("refused")?.as_n().ok()?.parse::<u64>().ok()?;
                Some((minute.with_timezone(&Utc), count))
            })
            .collect())
    }
}

/// The sort key of a minute's refusals: `refused#2026-12-06T02:03:00Z`, so keys sort by time.
fn refusal_key(minute: DateTime<Utc>) -> String {
    format!(
        "{REFUSED}#{}",
        minute.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )
}

/// The partition of a monitor's roll-ups (`rollup#<key>`, sort key the day).
const ROLLUP: &str = "rollup";
/// The partition of a function's closed incidents (`closed#<function>`, sort key the time it
/// closed and the key).
const CLOSED: &str = "closed";
/// The partition of the days a function has rolled up (`rolled-up#<function>`, sort key the day).
const ROLLED_UP: &str = "rolled-up";

fn day_key(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

impl DynamoDbStore {
    /// The history chunks a query finds, inflated.
    async fn history_of(
        &self,
        query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    ) -> Result<Vec<String>, StoreError> {
        let items = self.query_all(query, usize::MAX).await?;
        items.iter().map(chunk_of).collect()
    }

    /// Puts these items, 25 to a `BatchWriteItem`, again what DynamoDB leaves unprocessed.
    async fn put_all(
        &self,
        requests: Vec<aws_sdk_dynamodb::types::WriteRequest>,
        what: &str,
    ) -> Result<(), StoreError> {
        for batch in requests.chunks(BATCH_WRITE_ITEMS) {
            let mut pending = batch.to_vec();
            let mut round = 0;
            while !pending.is_empty() {
                if round == BATCH_GET_ROUNDS {
                    return Err(StoreError::Unavailable(format!(
                        "DynamoDB kept some of {what} back (throttled): it is partial"
                    )));
                }
                if round > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(50 << round)).await;
                }
                round += 1;
                let output = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .map_err(|e| unavailable(&e))?;
                pending = output
                    .unprocessed_items()
                    .and_then(|u| u.get(&self.table))
                    .cloned()
                    .unwrap_or_default();
            }
        }
        Ok(())
    }
}

fn put_request(
    item: HashMap<String, AttributeValue>,
) -> Result<aws_sdk_dynamodb::types::WriteRequest, StoreError> {
    use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
    let put = PutRequest::builder()
        .set_item(Some(item))
        .build()
        .map_err(|e| StoreError::Unavailable(format!("an item: {e}")))?;
    Ok(WriteRequest::builder().put_request(put).build())
}

/// A history item's chunk, inflated.
fn chunk_of(item: &HashMap<String, AttributeValue>) -> Result<String, StoreError> {
    let packed = item
        .get("z")
        .and_then(|v| v.as_b().ok())
        .ok_or_else(|| StoreError::Corrupt("a history item has no chunk".into()))?;
    crate::history::unpack(packed.as_ref())
}

fn history_partition(function: &str, day: NaiveDate) -> String {
    format!("{HISTORY}#{function}#{}", day.format("%Y-%m-%d"))
}

#[async_trait]
impl History for DynamoDbStore {
    async fn append(&self, record: &Record) -> Result<(), StoreError> {
        let pk = history_partition(&record.function, record.day());
        let expires = record.at + Duration::days(KEPT_DAYS);
        let requests = record
            .packed_chunks(CHUNK_BYTES)
            .into_iter()
            .enumerate()
            .map(|(n, packed)| {
                put_request(HashMap::from([
                    ("pk".to_owned(), string(pk.clone())),
                    (
                        "sk".to_owned(),
                        string(format!("{:012}#{n}", record.at.timestamp())),
                    ),
                    (
                        "z".to_owned(),
                        AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(packed)),
                    ),
                    ("expires_at".to_owned(), number(expires.timestamp())),
                ]))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.put_all(requests, "this tick's history").await
    }

    async fn day_chunks(
        &self,
        function: &str,
        day: NaiveDate,
        after: Option<DateTime<Utc>>,
    ) -> Result<Vec<String>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .expression_attribute_values(":pk", string(history_partition(function, day)));
        let query = match after {
            None => query.key_condition_expression("pk = :pk"),
            // Sort keys are the tick's seconds, zero-padded: later ticks sort after `<after>#~`.
            Some(after) => query
                .key_condition_expression("pk = :pk AND sk > :after")
                .expression_attribute_values(
                    ":after",
                    string(format!("{:012}#~", after.timestamp())),
                ),
        };
        self.history_of(query).await
    }

    async fn each_day_chunk(
        &self,
        function: &str,
        day: NaiveDate,
        each: &mut (dyn for<'c> FnMut(&'c str) -> Result<(), StoreError> + Send),
    ) -> Result<(), StoreError> {
        // Sort keys are the tick's seconds, zero-padded, then the chunk: the pages come in time
        // order, and each is let go before the next is read.
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", string(history_partition(function, day)));
        self.each_page(query, |page| {
            for item in page {
                each(&chunk_of(item)?)?;
            }
            Ok(true)
        })
        .await
    }

    async fn put_rollups(
        &self,
        function: &str,
        day: NaiveDate,
        rollups: &[Rollup],
    ) -> Result<(), StoreError> {
        let expires = Utc::now() + Duration::days(KEPT_DAYS);
        let requests = rollups
            .iter()
            .map(|rollup| {
                let body = serde_json::to_string(rollup).map_err(|e| {
                    StoreError::Unavailable(format!("cannot encode a roll-up: {e}"))
                })?;
                put_request(HashMap::from([
                    (
                        "pk".to_owned(),
                        string(sort_key(&format!("{ROLLUP}#"), &rollup.key)),
                    ),
                    ("sk".to_owned(), string(day_key(rollup.day))),
                    ("r".to_owned(), string(body)),
                    ("expires_at".to_owned(), number(expires.timestamp())),
                ]))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // The day is marked rolled up once all its roll-ups are in.
        self.put_all(requests, "the day's roll-ups").await?;
        self.put_all(
            vec![put_request(HashMap::from([
                ("pk".to_owned(), string(format!("{ROLLED_UP}#{function}"))),
                ("sk".to_owned(), string(day_key(day))),
                ("expires_at".to_owned(), number(expires.timestamp())),
            ]))?],
            "the day's roll-ups",
        )
        .await
    }

    async fn record_closed(&self, closed: &Closed) -> Result<(), StoreError> {
        let body = serde_json::to_string(closed)
            .map_err(|e| StoreError::Unavailable(format!("cannot encode an incident: {e}")))?;
        let sk = sort_key(
            &format!("{:012}#", closed.ended_at.timestamp()),
            &closed.key,
        );
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", string(format!("{CLOSED}#{}", closed.function)))
            .item("sk", string(sk))
            .item("c", string(body))
            .item(
                "expires_at",
                number((closed.ended_at + Duration::days(KEPT_DAYS)).timestamp()),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|e| unavailable(&e))
    }

    async fn closed(&self, function: &str, most: usize) -> Result<Vec<Closed>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", string(format!("{CLOSED}#{function}")))
            .scan_index_forward(false)
            .limit(i32::try_from(most.max(1)).unwrap_or(i32::MAX));
        let items = self.query_all(query, most).await?;
        items
            .iter()
            .take(most)
            .map(|item| {
                let body = item
                    .get("c")
                    .and_then(|v| v.as_s().ok())
                    .ok_or_else(|| StoreError::Corrupt("a closed incident item is empty".into()))?;
                serde_json::from_str(body)
                    .map_err(|e| StoreError::Corrupt(format!("a closed incident item: {e}")))
            })
            .collect()
    }

    async fn rolled_up(&self, function: &str, day: NaiveDate) -> Result<bool, StoreError> {
        Ok(self
            .get_item(&format!("{ROLLED_UP}#{function}"), day_key(day))
            .await?
            .is_some())
    }

    async fn rollups(
        &self,
        keys: &[String],
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<Rollup>, StoreError> {
        let mut found = Vec::new();
        for key in keys {
            let query = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
                .expression_attribute_values(":pk", string(sort_key(&format!("{ROLLUP}#"), key)))
                .expression_attribute_values(":from", string(day_key(from)))
                .expression_attribute_values(":to", string(day_key(to)));
            for item in self.query_all(query, usize::MAX).await? {
                let body = item
                    .get("r")
                    .and_then(|v| v.as_s().ok())
                    .ok_or_else(|| StoreError::Corrupt("a roll-up item has no roll-up".into()))?;
                let rollup: Rollup = serde_json::from_str(body)
                    .map_err(|e| StoreError::Corrupt(format!("a roll-up item: {e}")))?;
                // A hashed partition could be shared by two long keys: keep this key's own.
                if rollup.key == *key {
                    found.push(rollup);
                }
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transactions_hold_at_most_100_writes_and_4_mb() {
        let sizes = vec![1_000; 250];
        let groups = transactions(&sizes);
        assert_eq!(
            groups.iter().map(Vec::len).collect::<Vec<_>>(),
            [100, 100, 50]
        );
        assert_eq!(
            groups.concat(),
            (0..250).collect::<Vec<_>>(),
            "each once, in order"
        );
        // States of 350 KB: eleven come to more than 4 MB.
        let groups = transactions(&[350 * 1024; 25]);
        assert!(
            groups
                .iter()
                .all(|g| g.len() * 350 * 1024 <= TRANSACTION_BYTES)
        );
        assert_eq!(groups.concat().len(), 25);
        assert!(transactions(&[]).is_empty());
    }

    #[test]
    fn a_cancelled_transaction_says_which_writes_lost_and_which_go_again() {
        let reason = |code: &str| CancellationReason::builder().code(code).build();
        let reasons = [
            reason("None"),
            reason("ConditionalCheckFailed"),
            reason("TransactionConflict"),
            CancellationReason::builder().build(),
        ];
        assert_eq!(
            cancelled(&reasons, 4).unwrap(),
            [
                Cancelled::Again,
                Cancelled::Lost,
                Cancelled::Busy,
                Cancelled::Again
            ]
        );
        let refused = [CancellationReason::builder()
            .code("ValidationError")
            .message("Item size has exceeded the maximum allowed size")
            .build()];
        let error = cancelled(&refused, 1).unwrap_err().to_string();
        assert!(error.contains("ValidationError: Item size"), "{error}");
        assert!(cancelled(&reasons, 3).is_err(), "one reason per write");
    }

    #[test]
    fn long_sort_keys_are_hashed_short_ones_kept() {
        assert_eq!(
            sort_key("incident#", "site-status:https://a/"),
            "incident#site-status:https://a/"
        );
        let long = format!("site-status:https://a/{}", "x".repeat(2000));
        let hashed = sort_key("incident#", &long);
        assert!(
            hashed.starts_with("incident#sha256:") && hashed.len() < 100,
            "{hashed}"
        );
        assert_ne!(hashed, sort_key("incident#", &format!("{long}y")));
    }
}
