//! The one bootstrap every function is deployed as (`sam build` links it once; Lambda's `Handler`
//! picks the function, `lookout::bootstrap`), and on a laptop `lookout <function>`, `lookout
//! first-run` and `lookout demo`: what lookout does, shown against built-in stand-ins before
//! anything is configured (`lookout::demo`).

use std::io::IsTerminal;
use std::process::ExitCode;

const USAGE: &str = "usage: lookout first-run | lookout demo [--fast] | lookout <function> [args] | lookout reference
       lookout ack <monitor> | lookout silence <monitor> <for> [--by NAME] [--stack NAME]
  <function> site-status, speed-test, kafka-lag, heartbeat, host-check, ingest or status, as deployed
  ack        no more escalation for the monitor's open incident (the local state, or --stack's table)
  silence    no notices for the monitor's open incident for a while (30m, 2h, 1d)
  reference  rewrite the key tables of docs/configuration.md and the README from the code (make docs)
  first-run  every function once against built-in stand-ins, each alert as every channel shows it
  demo       six hours of an outage replayed in about ten seconds, as a timeline of notices";

fn main() -> ExitCode {
    let argv0 = std::env::args().next().unwrap_or_default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let handler = std::env::var("_HANDLER").ok();
    match lookout::bootstrap::chosen(handler.as_deref(), &argv0) {
        Ok(Some(function)) => return lookout::bootstrap::run(function, &args),
        Ok(None) => {}
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(2);
        }
    }
    if let Some((function, rest)) = args.split_first()
        && lookout::bootstrap::functions().contains(&function.as_str())
    {
        return lookout::bootstrap::run(function, rest);
    }
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
        ["reference"] => reference(),
        [command @ ("ack" | "silence"), rest @ ..] => {
            runtime.block_on(lookout::status::cli::run(command, rest))
        }
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

/// `lookout reference`: the generated parts of the reference files, written anew from the code.
fn reference() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    for path in lookout::setup::reference::FILES {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        let (written, parts) = lookout::setup::reference::rewrite(&text)?;
        if written != text {
            std::fs::write(path, &written).map_err(|e| format!("{path}: {e}"))?;
            println!(
                "{path}: written anew from the code ({} generated parts)",
                parts.len()
            );
        } else {
            println!("{path}: up to date");
        }
    }
    Ok(())
}
