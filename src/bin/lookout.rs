//! `lookout first-run` and `lookout demo`: what lookout does, shown on this machine against
//! built-in stand-ins, before anything is configured. Never deployed. The work is in
//! `lookout::demo`.

use std::io::IsTerminal;
use std::process::ExitCode;

const USAGE: &str = "usage: lookout first-run | lookout demo [--fast]
  first-run  every function once against built-in stand-ins, each alert as every channel shows it
  demo       six hours of an outage replayed in about ten seconds, as a timeline of notices";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("lookout: could not start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let done = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["first-run"] => runtime.block_on(lookout::demo::first_run()),
        ["demo", rest @ ..] if rest.iter().all(|a| *a == "--fast") => {
            // Paced for a person watching; at full speed for a pipe or `--fast`.
            let watched = rest.is_empty() && std::io::stdout().is_terminal();
            let pace = if watched {
                lookout::demo::REPLAY_WATCHED / 73
            } else {
                std::time::Duration::ZERO
            };
            runtime.block_on(lookout::demo::replay(pace))
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`| head`): nothing is wrong.
        Err(error)
            if error
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("lookout: {error}");
            ExitCode::FAILURE
        }
    }
}
