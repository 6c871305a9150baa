//! Every state store keeps the same contract: the memory store, the file store, and DynamoDB
//! (through moto, with DynamoDB's own limits: 1,024-byte sort keys, 400 KB items, lazy TTL).

mod support;

use lookout::alerting::state::StateStore;
use lookout::alerting::state::dynamodb::DynamoDbStore;
use lookout::alerting::state::file::FileStore;
use lookout::alerting::state::memory::MemoryStore;
use support::moto::Moto;
use support::store_contract as contract;

async fn each_part_of_the_contract(new: impl AsyncFn() -> Box<dyn StateStore>) {
    contract::ticks_finish_once(new().await.as_ref()).await;
    contract::writes_are_conditional_on_the_version(new().await.as_ref()).await;
    contract::long_keys_and_large_states_are_kept(new().await.as_ref()).await;
    contract::expired_incidents_are_not_read(new().await.as_ref()).await;
    contract::budgets_count_to_their_limit(new().await.as_ref()).await;
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
}
