//! ingest: the Function URL hosts and jobs ping. Wiring only; the work is in `lookout::ingest`.
//!
//! A local name of the one bootstrap (`lookout`, which Lambda runs with `Handler` naming the
//! function): `target/debug/ingest` runs this function.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    lookout::bootstrap::run("ingest", &args)
}
