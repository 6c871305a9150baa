//! lookout: serverless monitoring on AWS Lambda.
//!
//! Data flows one way: event -> [`tick`] -> [`checks`] -> results -> [`alerting`] -> [`notify`] ->
//! [`report`]. One bootstrap ([`bootstrap`]) serves every function.
//!
//! # Layers
//!
//! A module imports from its own layer or below, never above, and no two modules import each
//! other, directly or round about (`tests/layers.rs` reads this list and checks both):
//!
//! 1. values: `aws`, `cloudwatch`, `config`, `events`, `history`, `http`, `ledger`, `metrics`, `pings`, `procfs`, `redact`, `retry`, `secrets`, `signing`, `ssh`, `tencent`, `tick` — reading variables and YAML with positions, durations, time zones, secrets, retry, HTTP, signing, the ledger of what hosts sent, the history of what ticks found
//! 2. checks: `checks` — one module per check type and the registry, with the shared result types
//! 3. lifecycle: `alerting` — the lifecycle (pure), the policy, the words, the state stores
//! 4. channels: `notify` — one module per channel type and the registry
//! 5. setup: `setup` — `lookout.yaml` and variables turned into watches and channels
//! 6. the tick: `monitor`, `report` — the tick's stages and what it answers
//! 7. processes: `agent`, `bootstrap`, `demo`, `function`, `ingest`, `status` — what a process runs

pub mod agent;
pub mod alerting;
pub mod aws;
pub mod bootstrap;
pub mod checks;
pub mod cloudwatch;
pub mod config;
pub mod demo;
pub mod events;
pub mod function;
pub mod history;
pub mod http;
pub mod ingest;
pub mod ledger;
pub mod metrics;
pub mod monitor;
pub mod notify;
pub mod pings;
pub mod procfs;
pub mod redact;
pub mod report;
pub mod retry;
pub mod secrets;
pub mod setup;
pub mod signing;
pub mod ssh;
pub mod status;
pub mod tencent;
pub mod tick;
