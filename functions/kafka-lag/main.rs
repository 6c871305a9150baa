//! kafka-lag: is a consumer group falling behind? Wiring only; the work is in
//! `lookout::checks::kafka_lag`.

use std::process::ExitCode;

fn main() -> ExitCode {
    lookout::function::main(lookout::checks::kafka_lag::FUNCTION)
}
