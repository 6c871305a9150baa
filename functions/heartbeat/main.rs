//! heartbeat: has every host and job reported in? Wiring only; the work is in
//! `lookout::checks::heartbeat`.
//!
//! A local name of the one bootstrap (`lookout`, which Lambda runs with `Handler` naming the
//! function): `target/debug/heartbeat` runs this function.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    lookout::bootstrap::run("heartbeat", &args)
}
