//! host-check: a server's CPU, memory, disks and processes over SSH, nothing installed on it.
//! Wiring only; the work is in `lookout::checks::host`.
//!
//! A local name of the one bootstrap (`lookout`, which Lambda runs with `Handler` naming the
//! function): `target/debug/host-check` runs this function.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    lookout::bootstrap::run("host-check", &args)
}
