//! ingest: the Function URL hosts and jobs ping. Wiring only; the work is in `lookout::ingest`.

use std::process::ExitCode;

fn main() -> ExitCode {
    lookout::ingest::main()
}
