//! site-status: is the site up? Wiring only; the work is in `lookout::checks::site`.
//!
//! A local name of the one bootstrap (`lookout`, which Lambda runs with `Handler` naming the
//! function): `target/debug/site-status` runs this function.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    lookout::bootstrap::run("site-status", &args)
}
