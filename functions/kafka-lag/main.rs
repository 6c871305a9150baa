//! kafka-lag: is a consumer group falling behind? Wiring only; the work is in
//! `lookout::checks::kafka_lag`.

use std::process::ExitCode;

use lookout::checks::kafka_lag::{FUNCTION, KafkaLagCheck, KafkaLagSettings};

fn main() -> ExitCode {
    lookout::function::main(FUNCTION, |env| {
        let settings = KafkaLagSettings::from_env(env)?;
        Ok(Box::new(KafkaLagCheck::new(settings)?))
    })
}
