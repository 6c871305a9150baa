//! speed-test: how fast is the site from many regions and carriers? Wiring only; the work is in
//! `lookout::checks::speedtest`.

use std::process::ExitCode;

fn main() -> ExitCode {
    lookout::function::main(lookout::checks::speedtest::FUNCTION)
}
