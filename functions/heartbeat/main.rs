//! heartbeat: has every host and job reported in? Wiring only; the work is in
//! `lookout::checks::heartbeat`.

use std::process::ExitCode;

fn main() -> ExitCode {
    lookout::function::main(lookout::checks::heartbeat::FUNCTION)
}
