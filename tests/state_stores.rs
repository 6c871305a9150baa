//! Every state store keeps the same contract: the memory store, the file store, and DynamoDB
//! (through moto, with DynamoDB's own limits: 1,024-byte sort keys, 400 KB items, lazy TTL).

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Utc;
use lookout::alerting::lifecycle::Incident;
use lookout::alerting::state::dynamodb::DynamoDbStore;
use lookout::alerting::state::file::FileStore;
use lookout::alerting::state::memory::MemoryStore;
use lookout::alerting::state::{Commit, History, Incidents, StateStore, Versioned, Write};
use support::moto::Moto;
use support::store_contract::{self as contract, incident};

async fn each_part_of_the_contract(new: impl AsyncFn() -> Box<dyn StateStore>) {
    contract::ticks_finish_once(new().await.as_ref()).await;
    contract::writes_are_conditional_on_the_version(new().await.as_ref()).await;
    contract::a_large_commit_writes_what_it_can(new().await.as_ref()).await;
    contract::long_keys_and_large_states_are_kept(new().await.as_ref()).await;
    contract::expired_incidents_are_not_read(new().await.as_ref()).await;
    contract::budgets_count_to_their_limit(new().await.as_ref()).await;
    contract::events_are_kept_once_in_order(new().await.as_ref()).await;
    contract::resource_reports_outlast_plain_pings(new().await.as_ref()).await;
    contract::runs_overlap_and_end_by_their_ids(new().await.as_ref()).await;
    contract::ingest_refusals_are_counted_per_minute(new().await.as_ref()).await;
    contract::history_is_kept_per_tick_and_read_by_day(new().await.as_ref()).await;
    contract::a_day_is_read_a_chunk_at_a_time_in_time_order(new().await.as_ref()).await;
    contract::rollups_are_kept_per_monitor_and_day(new().await.as_ref()).await;
    contract::closed_incidents_are_kept_newest_first(new().await.as_ref()).await;
}

#[tokio::test]
async fn the_memory_store_keeps_the_contract() {
    each_part_of_the_contract(async || Box::new(MemoryStore::default()) as Box<dyn StateStore>)
        .await;
}

#[tokio::test]
async fn the_file_store_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let n = std::sync::atomic::AtomicU64::new(0);
    each_part_of_the_contract(async || {
        let n = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Box::new(FileStore::new(dir.path().join(format!("state-{n}.json")))) as Box<dyn StateStore>
    })
    .await;
}

#[tokio::test]
async fn the_dynamodb_store_keeps_the_contract_within_dynamodbs_limits() {
    let moto = Moto::start().await;
    let n = std::sync::atomic::AtomicU64::new(0);
    each_part_of_the_contract(async || {
        let n = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let table = format!("lookout-state-{n}");
        let client = support::dynamodb::table(&moto, &table).await;
        Box::new(DynamoDbStore::new(client, table)) as Box<dyn StateStore>
    })
    .await;
}

#[tokio::test]
async fn moto_enforces_the_limits_the_store_works_within() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let moto = Moto::start().await;
    let client = support::dynamodb::table(&moto, "limits").await;
    let put = |sk: String, state: String| {
        client
            .put_item()
            .table_name("limits")
            .item("pk", AttributeValue::S("site-status".into()))
            .item("sk", AttributeValue::S(sk))
            .item("state", AttributeValue::S(state))
            .item("expires_at", AttributeValue::N("1".into()))
            .send()
    };
    let long_key = format!("incident#site-status:https://a/{}", "x".repeat(1100));
    assert!(
        put(long_key, "{}".into()).await.is_err(),
        "a sort key over 1,024 bytes is refused"
    );
    let huge = "y".repeat(410 * 1024);
    assert!(
        put("incident#huge".into(), huge).await.is_err(),
        "an item over 400 KB is refused"
    );
    // TTL is lazy: an item whose expires_at has long passed is still returned.
    put("incident#expired".into(), "{}".into())
        .await
        .expect("written");
    let found = client
        .get_item()
        .table_name("limits")
        .key("pk", AttributeValue::S("site-status".into()))
        .key("sk", AttributeValue::S("incident#expired".into()))
        .send()
        .await
        .expect("read");
    assert!(
        found.item.is_some(),
        "moto keeps expired items, as DynamoDB may for days"
    );
    // Transactions: at most 100 writes and 4 MB, one write per item, and all or nothing.
    use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
    let write = |sk: String, state: String| {
        let put = Put::builder()
            .table_name("limits")
            .item("pk", AttributeValue::S("site-status".into()))
            .item("sk", AttributeValue::S(sk))
            .item("state", AttributeValue::S(state))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .unwrap();
        TransactWriteItem::builder().put(put).build()
    };
    let transact = |writes: Vec<TransactWriteItem>| {
        client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
    };
    use aws_sdk_dynamodb::operation::transact_write_items::{
        TransactWriteItemsError, TransactWriteItemsOutput,
    };
    type Sent = Result<
        TransactWriteItemsOutput,
        aws_sdk_dynamodb::error::SdkError<
            TransactWriteItemsError,
            aws_sdk_dynamodb::config::http::HttpResponse,
        >,
    >;
    let refusal = |sent: Sent| {
        use aws_sdk_dynamodb::error::ProvideErrorMetadata;
        let error = sent.expect_err("refused");
        let error = error.as_service_error().expect("a service error");
        format!(
            "{}: {}",
            error.code().unwrap_or("-"),
            error.message().unwrap_or("-")
        )
    };
    let many = (0..101)
        .map(|i| write(format!("t#{i}"), "{}".into()))
        .collect();
    assert!(refusal(transact(many).await).contains("less than or equal to 100"));
    let large = (0..11)
        .map(|i| write(format!("t#{i}"), "z".repeat(390 * 1024)))
        .collect();
    assert!(refusal(transact(large).await).contains("larger than 4 MB"));
    let twice = vec![
        write("t#a".into(), "{}".into()),
        write("t#a".into(), "{}".into()),
    ];
    assert!(refusal(transact(twice).await).contains("multiple operations on one item"));
    let one_taken = vec![
        write("t#new".into(), "{}".into()),
        write("incident#expired".into(), "{}".into()),
    ];
    assert!(refusal(transact(one_taken).await).starts_with("TransactionCanceledException"));
    let count = client
        .query()
        .table_name("limits")
        .key_condition_expression("pk = :pk AND begins_with(sk, :t)")
        .expression_attribute_values(":pk", AttributeValue::S("site-status".into()))
        .expression_attribute_values(":t", AttributeValue::S("t#".into()))
        .send()
        .await
        .expect("read")
        .count;
    assert_eq!(
        count, 0,
        "a refused or cancelled transaction writes nothing"
    );
}

// The file store's own behaviour: restarts, crashes between write and rename, corrupt and newer
// files, one write for many incidents, stores sharing a file.

/// A file next to the state file, as the store names its temporary ones.
fn temporary_next_to(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn store_in(dir: &tempfile::TempDir) -> FileStore {
    FileStore::new(dir.path().join("nested").join("state.json"))
}

async fn save(store: &FileStore, incident: &Incident, expected: Option<u64>) -> Option<u64> {
    let commit = Commit {
        function: "site-status",
        writes: vec![Write { incident, expected }],
        finished_tick: None,
    };
    store.commit(&commit).await.unwrap()[0]
}

#[tokio::test]
async fn state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let incident = incident("site-status:https://a/", 3);
    {
        let store = store_in(&dir);
        save(&store, &incident, None).await;
        let finish = Commit {
            function: "site-status",
            writes: Vec::new(),
            finished_tick: Some(("t1", Utc::now())),
        };
        store.commit(&finish).await.unwrap();
    }
    let reopened = store_in(&dir);
    let loaded = reopened.load("site-status").await.unwrap();
    assert_eq!(
        loaded,
        vec![Versioned {
            incident,
            version: 1
        }]
    );
    assert!(reopened.tick_finished("site-status", "t1").await.unwrap());
}

#[tokio::test]
async fn a_crash_between_write_and_rename_leaves_the_old_state() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(&dir);
    let first = incident("site-status:https://a/", 1);
    save(&store, &first, None).await;
    // The crash: a half-written temporary file, never renamed.
    std::fs::write(
        temporary_next_to(store.path(), ".4242.0.tmp"),
        b"{\"incidents\": {\"site-status:https",
    )
    .unwrap();
    let restarted = store_in(&dir);
    let loaded = restarted.load("site-status").await.unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].incident, first);
    let next = incident("site-status:https://a/", 2);
    assert_eq!(save(&restarted, &next, Some(1)).await, Some(2));
    assert_eq!(
        restarted.load("site-status").await.unwrap()[0].incident,
        next
    );
}

#[tokio::test]
async fn a_corrupt_file_is_named_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(&dir);
    std::fs::create_dir_all(store.path().parent().unwrap()).unwrap();
    std::fs::write(store.path(), b"not json").unwrap();
    let error = store.load("site-status").await.unwrap_err().to_string();
    assert!(
        error.contains("state.json") && error.contains("move it away"),
        "{error}"
    );
}

#[tokio::test]
async fn a_file_from_a_newer_lookout_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(&dir);
    std::fs::create_dir_all(store.path().parent().unwrap()).unwrap();
    let newer = br#"{"schema": 2, "incidents": {}, "ticks": {}, "alarms": {"kept": true}}"#;
    std::fs::write(store.path(), newer).unwrap();
    let error = store.load("site-status").await.unwrap_err().to_string();
    assert!(error.contains("newer lookout (schema 2"), "{error}");
    let commit = Commit {
        function: "site-status",
        writes: Vec::new(),
        finished_tick: Some(("t1", Utc::now())),
    };
    assert!(store.commit(&commit).await.is_err());
    assert_eq!(std::fs::read(store.path()).unwrap(), newer, "not truncated");
}

#[tokio::test]
async fn a_thousand_new_incidents_are_one_write() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(&dir);
    let incidents: Vec<Incident> = (0..1000)
        .map(|i| incident(&format!("site-status:https://site-{i}/"), 1))
        .collect();
    let commit = Commit {
        function: "site-status",
        writes: incidents
            .iter()
            .map(|incident| Write {
                incident,
                expected: None,
            })
            .collect(),
        finished_tick: Some(("t1", Utc::now())),
    };
    let versions = store.commit(&commit).await.unwrap();
    assert!(versions.iter().all(|v| *v == Some(1)));
    assert_eq!(store.writes(), 1);
    assert_eq!(store.load("site-status").await.unwrap().len(), 1000);
}

#[tokio::test]
async fn stores_sharing_a_file_take_turns() {
    // Each store opens the lock file on its own, as two processes would.
    let dir = tempfile::tempdir().unwrap();
    let stores: Vec<FileStore> = (0..8).map(|_| store_in(&dir)).collect();
    let incident = incident("site-status:https://a/", 1);
    let attempts = stores.iter().map(|store| save(store, &incident, None));
    let won = futures::future::join_all(attempts)
        .await
        .into_iter()
        .filter(Option::is_some)
        .count();
    assert_eq!(won, 1, "exactly one claims a new incident");
    let leftovers: Vec<_> = std::fs::read_dir(store_in(&dir).path().parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// A replayed day of 1,000 monitors in one-minute ticks: monitor `i` is down for `i % 7` minutes
/// in hour `i % 24`, and its roll-up must say exactly that.
fn replayed_day(ticks: i64, monitors: usize) -> Vec<lookout::history::Record> {
    use lookout::history::{Entry, Record, State};
    let start = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 12, 5, 0, 0, 0).unwrap();
    (0..ticks)
        .map(|minute| Record {
            function: "site-status".into(),
            at: start + chrono::Duration::minutes(minute),
            entries: (0..monitors)
                .map(|i| {
                    let down = minute / 60 == (i % 24) as i64 && minute % 60 < (i % 7) as i64;
                    Entry {
                        key: format!("site:shop-{i:04}"),
                        state: if down { State::Down } else { State::Up },
                        kind: down.then(|| "timeout".to_owned()),
                        ms: Some(100 + (i as u64 + minute as u64) % 400),
                        figure: None,
                    }
                })
                .collect(),
        })
        .collect()
}

/// The store's history of the replayed day rolls up exactly as the replay says.
async fn rolls_up_exactly(store: &dyn StateStore, records: &[lookout::history::Record]) {
    use lookout::history::Rollup;
    let day = records[0].at.date_naive();
    let read = store.day("site-status", day).await.unwrap();
    assert_eq!(read.len(), records.len(), "every tick is read back");
    let rollups = Rollup::of_day(day, &read);
    assert_eq!(rollups.len(), 1000);
    for rollup in &rollups {
        let i: usize = rollup.key["site:shop-".len()..].parse().unwrap();
        let down = (i % 7) as u32;
        assert_eq!(
            (
                rollup.checks,
                rollup.up,
                rollup.down,
                rollup.downtime_minutes
            ),
            (1440, 1440 - down, down, down),
            "{}",
            rollup.key
        );
    }
    assert_eq!(
        rollups,
        Rollup::of_day(day, records),
        "as the replay itself rolls up"
    );
}

#[tokio::test]
async fn a_day_of_a_thousand_monitors_is_one_write_a_tick_and_rolls_up_exactly() {
    let records = replayed_day(1440, 1000);

    // The file store: one append a tick.
    let dir = tempfile::tempdir().unwrap();
    let file = FileStore::new(dir.path().join("state.json"));
    for record in &records {
        file.append(record).await.unwrap();
    }
    assert_eq!(file.history_writes(), 1440);
    assert_eq!(file.writes(), 0, "the state file itself is not touched");
    rolls_up_exactly(&file, &records).await;

    // DynamoDB (moto): one BatchWriteItem a tick, counted on the wire.
    let moto = Moto::start().await;
    support::dynamodb::table(&moto, "history").await;
    let sent = Requests::default();
    let config = aws_sdk_dynamodb::config::Builder::from(&moto.sdk_config())
        .interceptor(sent.clone())
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(config);
    let dynamodb = DynamoDbStore::new(client, "history");
    for record in &records {
        dynamodb.append(record).await.unwrap();
    }
    let writes = sent.of("BatchWriteItem");
    assert_eq!(writes, 1440, "one request a tick");
    assert_eq!(sent.all(), 1440, "and nothing else");
    rolls_up_exactly(&dynamodb, &records).await;
    // The day's read: its items in pages of at most 1 MB.
    let queries = sent.of("Query");
    assert!(
        (1..=20).contains(&queries),
        "{queries} queries read the day"
    );
}

/// The DynamoDB operations a client sent, by `X-Amz-Target`.
#[derive(Debug, Clone, Default)]
struct Requests(Arc<std::sync::Mutex<Vec<String>>>);

impl Requests {
    fn of(&self, operation: &str) -> usize {
        let suffix = format!(".{operation}");
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|t| t.ends_with(&suffix))
            .count()
    }

    fn all(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

impl aws_sdk_dynamodb::config::Intercept for Requests {
    fn name(&self) -> &'static str {
        "requests"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_sdk_dynamodb::config::RuntimeComponents,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        if let Some(target) = context.request().headers().get("x-amz-target") {
            self.0.lock().unwrap().push(target.to_owned());
        }
        Ok(())
    }
}

/// What a store of the version before the history held stays as it was: the history, the
/// roll-ups and the closed incidents are items (and files) of their own.
async fn history_leaves_the_state_as_it_was(store: &dyn StateStore) -> Vec<Versioned> {
    use lookout::history::{Closed, Rollup};
    let open = incident("site-status:https://a/", 3);
    contract::save(store, &open, None).await;
    let commit = Commit {
        function: "site-status",
        writes: Vec::new(),
        finished_tick: Some(("tick-1", Utc::now())),
    };
    store.commit(&commit).await.unwrap();
    let before = store.load("site-status").await.unwrap();
    let records = replayed_day(3, 10);
    for record in &records {
        store.append(record).await.unwrap();
    }
    let day = records[0].at.date_naive();
    store
        .put_rollups("site-status", day, &Rollup::of_day(day, &records))
        .await
        .unwrap();
    store
        .record_closed(&Closed {
            key: "site-status:https://a/".into(),
            function: "site-status".into(),
            began_at: records[0].at,
            ended_at: records[2].at,
            kind: None,
            message: "down".into(),
        })
        .await
        .unwrap();
    assert!(store.tick_finished("site-status", "tick-1").await.unwrap());
    let after = store.load("site-status").await.unwrap();
    assert_eq!(after.len(), before.len());
    assert_eq!(after[0].incident, before[0].incident);
    assert_eq!(after[0].version, before[0].version);
    after
}

#[tokio::test]
async fn a_store_of_the_version_before_gains_history_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let file = FileStore::new(&path);
    contract::save(&file, &incident("site-status:https://b/", 1), None).await;
    let written = std::fs::read(&path).unwrap();
    history_leaves_the_state_as_it_was(&file).await;
    assert_ne!(
        std::fs::read(&path).unwrap(),
        written,
        "the incident and tick were written"
    );
    let state_now = std::fs::read(&path).unwrap();
    file.append(&replayed_day(1, 3)[0]).await.unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        state_now,
        "the history never touches the state file"
    );

    let moto = Moto::start().await;
    let client = support::dynamodb::table(&moto, "upgraded").await;
    let dynamodb = DynamoDbStore::new(client, "upgraded");
    history_leaves_the_state_as_it_was(&dynamodb).await;
}
