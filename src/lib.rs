//! lookout: serverless monitoring on AWS Lambda.
//!
//! Data flows one way: event -> [`tick`] -> [`checks`] -> results -> [`alerting`] -> [`notify`] ->
//! [`report`]. The binaries in `functions/` only wire these together through [`function::main`].

pub mod agent;
pub mod alerting;
pub mod aws;
pub mod checks;
pub mod cloudwatch;
pub mod config;
pub mod demo;
pub mod events;
pub mod function;
pub mod http;
pub mod ingest;
pub mod metrics;
pub mod monitor;
pub mod notify;
pub mod pings;
pub mod procfs;
pub mod redact;
pub mod report;
pub mod retry;
pub mod secrets;
pub mod signing;
pub mod ssh;
pub mod tencent;
pub mod tick;
