//! site-status: is the site up? Wiring only; the work is in `lookout::checks::site`.

use std::process::ExitCode;

fn main() -> ExitCode {
    lookout::function::main(lookout::checks::site::FUNCTION)
}
