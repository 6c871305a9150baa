//! The behaviour every state store must have: `tests/state_stores.rs` runs it against the memory,
//! file and DynamoDB (moto) stores.

use chrono::{TimeZone, Utc};
use lookout::alerting::lifecycle::{Incident, Status};
use lookout::alerting::state::{Commit, IDLE_INCIDENT_DAYS, StateStore, Write};
use lookout::checks::Health;

pub fn incident(key: &str, failures: u32) -> Incident {
    Incident {
        key: key.into(),
        function: "site-status".into(),
        target: key.trim_start_matches("site-status:").into(),
        status: if failures > 0 {
            Status::Open
        } else {
            Status::Ok
        },
        health: Health::Failing,
        kind: Some("status".into()),
        message: "answered 503".into(),
        began_at: None,
        recovering_since: None,
        failures,
        successes: 0,
        channels: Default::default(),
        updated_at: Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap(),
        memory: None,
        last_tick: None,
        answers: Vec::new(),
        confirmation: None,
    }
}

/// One write, as a commit of its own.
pub async fn save(
    store: &dyn StateStore,
    incident: &Incident,
    expected: Option<u64>,
) -> Option<u64> {
    let commit = Commit {
        function: &incident.function,
        writes: vec![Write { incident, expected }],
        finished_tick: None,
    };
    store.commit(&commit).await.unwrap()[0]
}

pub async fn ticks_finish_once(store: &dyn StateStore) {
    let at = Utc::now();
    assert!(!store.tick_finished("site-status", "t1").await.unwrap());
    let finish = |function, id| Commit {
        function,
        writes: Vec::new(),
        finished_tick: Some((id, at)),
    };
    store.commit(&finish("site-status", "t1")).await.unwrap();
    assert!(store.tick_finished("site-status", "t1").await.unwrap());
    assert!(
        !store.tick_finished("kafka-lag", "t1").await.unwrap(),
        "ledgers are per function"
    );
    assert!(!store.tick_finished("site-status", "t2").await.unwrap());
    // A long id (an event's, whatever its length) is kept as well as a short one.
    let long = "x".repeat(2000);
    store.commit(&finish("site-status", &long)).await.unwrap();
    assert!(store.tick_finished("site-status", &long).await.unwrap());
}

pub async fn writes_are_conditional_on_the_version(store: &dyn StateStore) {
    let first = incident("site-status:https://a/", 1);
    let v1 = save(store, &first, None)
        .await
        .expect("a new incident is written");
    assert_eq!(save(store, &first, None).await, None, "it exists already");
    let second = incident("site-status:https://a/", 2);
    let v2 = save(store, &second, Some(v1))
        .await
        .expect("the version matches");
    assert!(v2 > v1);
    assert_eq!(
        save(store, &second, Some(v1)).await,
        None,
        "a stale version loses"
    );
    // A commit writes what it can: the stale write loses, the new one is made.
    let third = incident("site-status:https://b/", 1);
    let commit = Commit {
        function: "site-status",
        writes: vec![
            Write {
                incident: &second,
                expected: Some(v1),
            },
            Write {
                incident: &third,
                expected: None,
            },
        ],
        finished_tick: None,
    };
    let versions = store.commit(&commit).await.unwrap();
    assert_eq!(versions[0], None);
    assert!(versions[1].is_some());
    let mut loaded = store.load("site-status").await.unwrap();
    loaded.sort_by(|a, b| a.incident.key.cmp(&b.incident.key));
    assert_eq!(loaded.len(), 2);
    assert_eq!(loaded[0].incident, second);
    assert_eq!(loaded[0].version, v2);
    assert!(store.load("kafka-lag").await.unwrap().is_empty());
    let got = store
        .get("site-status", "site-status:https://a/")
        .await
        .unwrap()
        .expect("stored");
    assert_eq!((got.incident, got.version), (second, v2));
    assert_eq!(
        store
            .get("site-status", "site-status:https://c/")
            .await
            .unwrap(),
        None
    );
}

/// A commit larger than a store takes in one go (a fleet failing at once): each write is made or
/// lost on its own version, whatever else the commit holds, and its large states are kept whole.
pub async fn a_large_commit_writes_what_it_can(store: &dyn StateStore) {
    let key = |i: usize| format!("site-status:https://site-{i:03}/");
    // 40 stored at version 1, and 10 whose record has expired (settled long ago).
    for i in 0..40 {
        save(store, &incident(&key(i), 1), None)
            .await
            .expect("written");
    }
    for i in 40..50 {
        save(store, &incident(&key(i), 0), None)
            .await
            .expect("written");
    }
    let mut next: Vec<Incident> = (0..300).map(|i| incident(&key(i), 2)).collect();
    for (i, new) in next.iter_mut().enumerate() {
        new.message = format!("the commit's write {i}");
        if i % 6 == 1 {
            new.message.push_str(&"x".repeat(300 * 1024));
        }
    }
    // Stored ones: a stale version loses, an unknown one (None) loses, the right one wins.
    // Expired ones count as gone. The rest are new.
    let expected = |i: usize| match i {
        0..10 => Some(7),
        10..20 => None,
        20..40 => Some(1),
        _ => None,
    };
    let mut order: Vec<usize> = (0..300).collect();
    order.sort_by_key(|i| (i * 7919) % 300);
    let commit = Commit {
        function: "site-status",
        writes: order
            .iter()
            .map(|&i| Write {
                incident: &next[i],
                expected: expected(i),
            })
            .collect(),
        finished_tick: None,
    };
    let versions = store.commit(&commit).await.unwrap();
    let want = |i: usize| match i {
        0..20 => None,
        20..40 => Some(2),
        _ => Some(1),
    };
    assert_eq!(versions, order.iter().map(|&i| want(i)).collect::<Vec<_>>());
    let mut loaded = store.load("site-status").await.unwrap();
    loaded.sort_by(|a, b| a.incident.key.cmp(&b.incident.key));
    assert_eq!(loaded.len(), 300);
    for (i, stored) in loaded.iter().enumerate() {
        let kept = if i < 20 {
            &incident(&key(i), 1)
        } else {
            &next[i]
        };
        assert_eq!(&stored.incident, kept, "write {i}");
        assert_eq!(stored.version, want(i).unwrap_or(1), "write {i}");
    }
}

pub async fn long_keys_and_large_states_are_kept(store: &dyn StateStore) {
    let url = format!("https://example.com/{}", "a".repeat(3000));
    let mut long = incident(&format!("site-status:{url}"), 1);
    long.message = "x".repeat(600 * 1024);
    long.memory = Some(serde_json::json!({"samples": "y".repeat(200 * 1024)}));
    let version = save(store, &long, None).await.expect("written");
    let loaded = store
        .get("site-status", &long.key)
        .await
        .unwrap()
        .expect("found by its full key");
    assert_eq!(loaded.version, version);
    assert_eq!(loaded.incident.key, long.key);
    assert_eq!(loaded.incident.status, long.status);
    assert!(loaded.incident.message.chars().count() <= 2001);
    assert_eq!(loaded.incident.memory, None);
    assert_eq!(store.load("site-status").await.unwrap().len(), 1);
}

pub async fn expired_incidents_are_not_read(store: &dyn StateStore) {
    let mut idle = incident("site-status:https://idle/", 0);
    idle.updated_at = Utc::now() - chrono::Duration::days(IDLE_INCIDENT_DAYS + 1);
    save(store, &idle, None).await.expect("written");
    let mut recent = incident("site-status:https://recent/", 0);
    recent.updated_at = Utc::now();
    save(store, &recent, None).await.expect("written");
    let keys: Vec<String> = store
        .load("site-status")
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.incident.key)
        .collect();
    assert_eq!(keys, vec!["site-status:https://recent/"]);
    assert_eq!(
        store.get("site-status", &idle.key).await.unwrap(),
        None,
        "past its TTL, even if not deleted yet"
    );
}

pub async fn budgets_count_to_their_limit(store: &dyn StateStore) {
    let tomorrow = Utc::now() + chrono::Duration::days(1);
    for _ in 0..3 {
        assert!(store.spend("sms#a#2026-05-01", 3, tomorrow).await.unwrap());
    }
    assert!(!store.spend("sms#a#2026-05-01", 3, tomorrow).await.unwrap());
    assert!(store.spend("sms#b#2026-05-01", 3, tomorrow).await.unwrap());
    store.refund("sms#a#2026-05-01").await.unwrap();
    assert!(store.spend("sms#a#2026-05-01", 3, tomorrow).await.unwrap());
    assert!(!store.spend("sms#a#2026-05-01", 3, tomorrow).await.unwrap());
    // A spent budget is forgotten once it expires.
    let yesterday = Utc::now() - chrono::Duration::days(1);
    assert!(store.spend("sms#c#2026-04-30", 1, yesterday).await.unwrap());
    assert!(store.spend("sms#c#2026-04-30", 1, yesterday).await.unwrap());
}

/// An agent's event `minute` minutes past an hour ago, numbered `serial`.
pub fn process_event(serial: u64, minute: i64, state: &str) -> lookout::events::ProcessEvent {
    let at = Utc::now() - chrono::Duration::hours(1) + chrono::Duration::minutes(minute);
    lookout::events::ProcessEvent {
        id: format!("web-1/boot/1/{serial}"),
        host: "web-1".into(),
        process: "api".into(),
        group: "api".into(),
        from_state: "RUNNING".into(),
        state: state.into(),
        expected: (state == "EXITED").then_some(false),
        pid: Some(4000 + serial as u32),
        serial,
        at,
        dropped: 0,
    }
}

/// A host's events are kept once each, read in the order they happened, apart from other hosts',
/// and forgotten when they expire.
pub async fn events_are_kept_once_in_order(store: &dyn StateStore) {
    let later = Utc::now() + chrono::Duration::hours(24);
    let (exited, running, earlier) = (
        process_event(2, 10, "EXITED"),
        process_event(3, 11, "RUNNING"),
        process_event(1, 5, "FATAL"),
    );
    assert!(store.record_event("host-a", &exited, later).await.unwrap());
    assert!(store.record_event("host-a", &running, later).await.unwrap());
    // A resend is not kept again, even stamped anew (supervisord resends an event the listener
    // did not take, and the agent stamps what it receives): its id says it is the same, and the
    // first delivery's time stays. A late arrival takes its place in time.
    assert!(!store.record_event("host-a", &exited, later).await.unwrap());
    let restamped = lookout::events::ProcessEvent {
        at: exited.at + chrono::Duration::milliseconds(1500),
        ..exited.clone()
    };
    assert!(
        !store
            .record_event("host-a", &restamped, later)
            .await
            .unwrap()
    );
    assert!(store.record_event("host-a", &earlier, later).await.unwrap());
    let gone = process_event(9, 1, "EXITED");
    assert!(
        store
            .record_event("host-a", &gone, Utc::now() - chrono::Duration::seconds(5))
            .await
            .unwrap()
    );
    assert!(
        store
            .record_event("host-b", &process_event(4, 12, "EXITED"), later)
            .await
            .unwrap()
    );
    let serials: Vec<u64> = store
        .events("host-a")
        .await
        .unwrap()
        .iter()
        .map(|e| e.serial)
        .collect();
    assert_eq!(serials, vec![1, 2, 3]);
    assert_eq!(store.events("host-a").await.unwrap()[1], exited);
    assert!(store.events("host-c").await.unwrap().is_empty());
}

/// A resource report is kept with its time whatever ping came just before, and stays through the
/// body-less pings (supervisord's TICK_60) that follow it.
pub async fn resource_reports_outlast_plain_pings(store: &dyn StateStore) {
    use lookout::pings::{Ping, Resources, Signal};
    let at = Utc::now() - chrono::Duration::minutes(5);
    let interval = chrono::Duration::seconds(10);
    let ping = |seconds: i64, resources: Option<Resources>| Ping {
        signal: Signal::Success,
        exit_status: None,
        at: at + chrono::Duration::seconds(seconds),
        output: None,
        resources,
        rid: None,
        ms: None,
    };
    let report = Resources::of_body(
        br#"{"host":"web-1","cpu":12.5,"memory":40,"disks":{"/":96.2},"processes":{"nginx":false}}"#,
    )
    .expect("a report")
    .expect("valid");
    let hash = "reports-host";
    assert!(
        store
            .record_ping(hash, "web-1", &ping(0, None), interval)
            .await
            .unwrap()
    );
    assert!(
        store
            .record_ping(hash, "web-1", &ping(2, Some(report.clone())), interval)
            .await
            .unwrap(),
        "a report 2 s after a tick's ping is kept"
    );
    assert!(
        store
            .record_ping(hash, "web-1", &ping(60, None), interval)
            .await
            .unwrap()
    );
    let records = store.pings(&[hash.to_owned()]).await.unwrap();
    let record = &records[hash];
    assert_eq!(record.resources.as_ref(), Some(&report));
    assert_eq!(
        record.resources_at.map(|t| t.timestamp_millis()),
        Some((at + chrono::Duration::seconds(2)).timestamp_millis())
    );
    assert_eq!(record.output, None, "a report is not a job's output");
}

/// Runs named by their run ids overlap and end each by its own id, with their durations; an end
/// without a matching run ends none; ignored pings are noted and never counted; a response time is
/// kept; pings racing on one record are all judged against each other.
pub async fn runs_overlap_and_end_by_their_ids(store: &dyn StateStore) {
    use lookout::pings::{Ping, Signal};
    let at = Utc::now() - chrono::Duration::hours(3);
    let interval = chrono::Duration::seconds(10);
    let ping = |minutes: i64, signal: Signal, rid: Option<&str>| Ping {
        signal,
        exit_status: None,
        at: at + chrono::Duration::minutes(minutes),
        output: None,
        resources: None,
        rid: rid.map(str::to_owned),
        ms: None,
    };
    let (a, b) = (
        "aaaaaaaa-0000-4000-8000-000000000001",
        "bbbbbbbb-0000-4000-8000-000000000002",
    );
    let hash = "nightly-backup";
    for sent in [
        ping(0, Signal::Start, Some(a)),
        ping(0, Signal::Start, Some(b)),
        ping(41, Signal::Success, Some(a)),
        ping(
            42,
            Signal::Success,
            Some("cccccccc-0000-4000-8000-000000000003"),
        ),
    ] {
        assert!(
            store
                .record_ping(hash, "backup", &sent, interval)
                .await
                .unwrap()
        );
    }
    let record = &store.pings(&[hash.to_owned()]).await.unwrap()[hash];
    assert_eq!(
        record.open_runs().len(),
        1,
        "b is still running: {record:?}"
    );
    assert_eq!(record.open_runs()[0].rid.as_deref(), Some(b));
    assert_eq!(
        record.durations,
        vec![41 * 60],
        "a's run, not the unmatched end"
    );
    assert_eq!(record.last_duration, None, "the last end matched no run");
    let ignored = Ping {
        ms: Some(87),
        ..ping(43, Signal::Ignored, None)
    };
    assert!(
        store
            .record_ping(hash, "backup", &ignored, interval)
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_ping(hash, "backup", &ping(43, Signal::Ignored, None), interval)
            .await
            .unwrap(),
        "an ignored ping is noted once per interval"
    );
    let kuma = Ping {
        ms: Some(87),
        ..ping(44, Signal::Success, Some(b))
    };
    assert!(
        store
            .record_ping(hash, "backup", &kuma, interval)
            .await
            .unwrap()
    );
    let record = &store.pings(&[hash.to_owned()]).await.unwrap()[hash];
    assert_eq!((record.ignored, record.last_signal), (1, Signal::Success));
    assert!(record.open_runs().is_empty());
    assert_eq!(record.durations, vec![41 * 60, 44 * 60]);
    assert_eq!(
        (record.last_duration, record.last_ms),
        (Some(44 * 60), Some(87))
    );
    assert_eq!(record.usual_duration(), Some(44 * 60));

    // Twenty starts at once, each its own run: no write is lost. A ping the store could not keep
    // in the race (an error: the sender is told to try again) is sent again, as curl --retry does.
    let racing = "racing";
    let starts: Vec<Ping> = (0..20)
        .map(|n| Ping {
            rid: Some(format!("dddddddd-0000-4000-8000-{n:012}")),
            ..ping(n, Signal::Start, None)
        })
        .collect();
    let first = futures::future::join_all(
        starts
            .iter()
            .map(|p| store.record_ping(racing, "racing", p, interval)),
    )
    .await;
    let mut kept = 0;
    for (sent, answer) in starts.iter().zip(first) {
        let answer = match answer {
            Err(_) => store.record_ping(racing, "racing", sent, interval).await,
            answered => answered,
        };
        kept += usize::from(answer.expect("kept on the retry"));
    }
    let record = &store.pings(&[racing.to_owned()]).await.unwrap()[racing];
    assert_eq!(
        record.open_runs().len(),
        kept.min(lookout::pings::MAX_OPEN_RUNS),
        "every start kept is a run (a lost write would lose one)"
    );
    assert_eq!(
        record.last_at.timestamp_millis(),
        starts[19].at.timestamp_millis(),
        "the newest start is the last kept"
    );
}

/// The ingest's refusals are counted per minute and read from a minute on.
pub async fn ingest_refusals_are_counted_per_minute(store: &dyn StateStore) {
    let minute = lookout::alerting::state::minute_of(Utc::now() - chrono::Duration::minutes(10));
    let at = |seconds: i64| minute + chrono::Duration::seconds(seconds);
    assert!(store.ingest_refusals(at(0)).await.unwrap().is_empty());
    for seconds in [5, 50, 70, 300] {
        store.record_ingest_refusal(at(seconds)).await.unwrap();
    }
    assert_eq!(
        store.ingest_refusals(at(30)).await.unwrap(),
        vec![(at(0), 2), (at(60), 1), (at(300), 1)]
    );
    assert_eq!(
        store.ingest_refusals(at(61)).await.unwrap(),
        vec![(at(60), 1), (at(300), 1)]
    );
}

/// One tick's record of `monitors` sites at minute `minute` of 2026-12-06.
pub fn history_record(function: &str, minute: i64, monitors: usize) -> lookout::history::Record {
    use lookout::history::{Entry, Record, State};
    Record {
        function: function.into(),
        at: Utc.with_ymd_and_hms(2026, 12, 6, 0, 0, 0).unwrap() + chrono::Duration::minutes(minute),
        entries: (0..monitors)
            .map(|i| Entry {
                key: format!("site:shop-{i:05}.example.com/health/checkout"),
                state: if (i as i64 + minute) % 7 == 0 {
                    State::Down
                } else {
                    State::Up
                },
                kind: ((i as i64 + minute) % 7 == 0).then(|| "timeout".to_owned()),
                ms: Some(100 + (i as u64 % 900)),
                figure: None,
            })
            .collect(),
    }
}

pub async fn history_is_kept_per_tick_and_read_by_day(store: &dyn StateStore) {
    use chrono::NaiveDate;
    let day = NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
    let first = history_record("site-status", 0, 3);
    let second = history_record("site-status", 1, 3);
    let other = history_record("heartbeat", 0, 2);
    let tomorrow = history_record("site-status", 24 * 60, 3);
    // Ten thousand monitors: more than one DynamoDB item holds.
    let big = history_record("site-status", 2, 10_000);
    for record in [&second, &first, &other, &tomorrow, &big, &first] {
        store.append(record).await.unwrap();
    }
    let read = store.day("site-status", day).await.unwrap();
    assert_eq!(
        read.len(),
        3,
        "each tick once, the same tick written twice read once"
    );
    assert_eq!(read[0], first);
    assert_eq!(read[1], second);
    let mut entries = read[2].entries.clone();
    entries.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(entries, big.entries, "a big record reads back whole");
    let later = store.day_after("site-status", day, first.at).await.unwrap();
    assert_eq!(
        later.iter().map(|r| r.at).collect::<Vec<_>>(),
        vec![second.at, big.at],
        "only what came after"
    );
    // The chunks themselves: the store leaves out those before, not only the reader.
    let chunks = store
        .day_chunks("site-status", day, Some(first.at))
        .await
        .unwrap();
    assert!(!chunks.is_empty());
    assert!(
        chunks
            .iter()
            .all(|c| lookout::history::chunk_time(c).unwrap() > first.at),
        "a chunk of a tick before was read"
    );
    assert_eq!(store.day("heartbeat", day).await.unwrap(), vec![other]);
    assert_eq!(
        store
            .day("site-status", day.succ_opt().unwrap())
            .await
            .unwrap(),
        vec![tomorrow]
    );
    assert!(store.day("kafka-lag", day).await.unwrap().is_empty());
}

/// A whole day handed over a chunk at a time, in time order, and rolled up as it comes: more than
/// one page of DynamoDB's (1 MB): its keys are long and random, so they deflate little.
pub async fn a_day_is_read_a_chunk_at_a_time_in_time_order(store: &dyn StateStore) {
    use chrono::NaiveDate;
    use lookout::history::{DayTally, Entry, Record, Rollup, State};
    let day = NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
    let mut seed = 7u64;
    let keys: Vec<String> = (0..1_000)
        .map(|_| {
            let random: String = (0..40)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    format!("{:02x}", seed >> 56)
                })
                .collect();
            format!("site:https://{random}/")
        })
        .collect();
    let records: Vec<Record> = (0..24i64)
        .map(|tick| Record {
            function: "site-status".into(),
            at: Utc.with_ymd_and_hms(2026, 12, 6, 0, 0, 0).unwrap()
                + chrono::Duration::minutes(tick),
            entries: keys
                .iter()
                .enumerate()
                .map(|(i, key)| Entry {
                    key: key.clone(),
                    state: if (i as i64 + tick) % 5 == 0 {
                        State::Down
                    } else {
                        State::Up
                    },
                    kind: None,
                    ms: Some(90 + (i as u64 * 37 + tick as u64 * 11) % 3000),
                    figure: None,
                })
                .collect(),
        })
        .collect();
    // Written out of order, one twice.
    for record in records.iter().rev().chain(&records[3..4]) {
        store.append(record).await.unwrap();
    }
    let mut times = Vec::new();
    let mut tally = DayTally::new(day);
    store
        .each_day_chunk("site-status", day, &mut |chunk| {
            times.push(lookout::history::chunk_time(chunk)?);
            tally.add(chunk)
        })
        .await
        .unwrap();
    assert!(times.len() >= 24, "{} chunks", times.len());
    assert!(times.is_sorted(), "in time order: {times:?}");
    assert_eq!(tally.rollups(), Rollup::of_day(day, &records));
    let mut none = 0;
    store
        .each_day_chunk("site-status", day.succ_opt().unwrap(), &mut |_| {
            none += 1;
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(none, 0);
}

pub async fn rollups_are_kept_per_monitor_and_day(store: &dyn StateStore) {
    use chrono::NaiveDate;
    use lookout::history::Rollup;
    let day = |d: u32| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
    let rollup = |key: &str, d: u32, down: u32| Rollup {
        key: key.into(),
        day: day(d),
        checks: 1440,
        up: 1440 - down,
        down,
        errors: 0,
        degraded: 0,
        p50_ms: Some(120),
        p95_ms: None,
        downtime_minutes: down,
    };
    let long = format!("site:https://shop.example.com/{}", "x".repeat(1100));
    assert!(!store.rolled_up("site-status", day(5)).await.unwrap());
    for d in 3..=5 {
        let rollups = vec![rollup("site:shop", d, d), rollup(&long, d, 0)];
        store
            .put_rollups("site-status", day(d), &rollups)
            .await
            .unwrap();
    }
    assert!(store.rolled_up("site-status", day(5)).await.unwrap());
    assert!(!store.rolled_up("heartbeat", day(5)).await.unwrap());
    let read = store
        .rollups(
            &["site:shop".to_owned(), long.clone(), "site:none".to_owned()],
            day(4),
            day(6),
        )
        .await
        .unwrap();
    assert_eq!(
        read,
        vec![
            rollup("site:shop", 4, 4),
            rollup("site:shop", 5, 5),
            rollup(&long, 4, 0),
            rollup(&long, 5, 0),
        ]
    );
}

pub async fn closed_incidents_are_kept_newest_first(store: &dyn StateStore) {
    use lookout::history::Closed;
    let at = |minute: i64| {
        Utc.with_ymd_and_hms(2026, 12, 6, 10, 0, 0).unwrap() + chrono::Duration::minutes(minute)
    };
    let closed = |key: &str, from: i64, to: i64| Closed {
        key: key.into(),
        function: "site-status".into(),
        began_at: at(from),
        ended_at: at(to),
        kind: Some("timeout".into()),
        message: format!("{key} timed out <b>after</b> 10 s"),
    };
    let long = format!("site:{}", "x".repeat(1100));
    for incident in [
        closed("site:shop", 0, 30),
        closed(&long, 5, 40),
        closed("site:blog", 50, 51),
        closed("site:shop", 0, 30),
    ] {
        store.record_closed(&incident).await.unwrap();
    }
    let mut other = closed("heartbeat:web-1", 0, 90);
    other.function = "heartbeat".into();
    store.record_closed(&other).await.unwrap();
    let read = store.closed("site-status", 20).await.unwrap();
    assert_eq!(
        read,
        vec![
            closed("site:blog", 50, 51),
            closed(&long, 5, 40),
            closed("site:shop", 0, 30)
        ],
        "newest first, each once"
    );
    assert_eq!(read[0].downtime_minutes(), 1);
    assert_eq!(read[2].downtime_minutes(), 30);
    assert_eq!(store.closed("site-status", 1).await.unwrap().len(), 1);
    assert_eq!(store.closed("heartbeat", 20).await.unwrap(), vec![other]);
}
