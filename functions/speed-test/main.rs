//! speed-test: how fast is the site from many regions and carriers? Wiring only; the work is in
//! `lookout::checks::speedtest`.
//!
//! A local name of the one bootstrap (`lookout`, which Lambda runs with `Handler` naming the
//! function): `target/debug/speed-test` runs this function.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    lookout::bootstrap::run("speed-test", &args)
}
