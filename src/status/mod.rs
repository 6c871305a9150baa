//! The `status` function: the status page, its JSON and its badges, behind a Function URL of its
//! own (a busy page never takes the ingest's concurrency). It only reads what the other functions
//! keep: the public monitors' roll-ups, the last two days of history, and their incidents.

pub mod badge;
pub mod html;
pub mod view;
