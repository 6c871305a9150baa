//! speed-test: how fast is the site from many regions and carriers? Wiring only; the work is in
//! `lookout::checks::speedtest`.

use std::process::ExitCode;

use lookout::checks::speedtest::{FUNCTION, SpeedTestCheck};

fn main() -> ExitCode {
    lookout::function::main(FUNCTION, |env| Ok(Box::new(SpeedTestCheck::from_env(env)?)))
}
