//! kafka-lag: is a consumer group falling behind? Wiring only; the work is in
//! `lookout::checks::kafka_lag`.
//!
//! A local name of the one bootstrap (`lookout`, which Lambda runs with `Handler` naming the
//! function): `target/debug/kafka-lag` runs this function.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    lookout::bootstrap::run("kafka-lag", &args)
}
