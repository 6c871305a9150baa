//! host-check: a server's CPU, memory, disks and processes over SSH, nothing installed on it.
//! Wiring only; the work is in `lookout::checks::host`.

use std::process::ExitCode;

fn main() -> ExitCode {
    lookout::function::main(lookout::checks::host::FUNCTION)
}
