//! lookout-agent: runs on the user's servers, pushing supervisord's process events to the
//! `ingest` function. Wiring only; the work is in `lookout::agent`.

fn main() -> std::process::ExitCode {
    lookout::agent::main()
}
