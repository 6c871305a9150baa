//! The one bootstrap: which function this process is.
//!
//! Every deployed function is the same file, `bootstrap`, built once. Lambda tells it which function
//! it is by the `Handler` of its template entry (`Handler: site-status`), which a custom runtime
//! receives as `_HANDLER`. On a laptop the name it was started by does the same
//! (`target/debug/site-status`, or a link named so), and `lookout <function> [args]` too.

use std::process::ExitCode;

use crate::{checks, function, ingest, status};

/// The function that answers the public Function URL rather than ticking.
pub const INGEST: &str = "ingest";
/// The function that answers the status page's Function URL.
pub const STATUS: &str = "status";

/// Every function the bootstrap serves: the check functions (from the check types' registry), the
/// ingest and the status page.
pub fn functions() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for kind in checks::CHECK_TYPES {
        if !names.contains(&kind.function) {
            names.push(kind.function);
        }
    }
    names.push(INGEST);
    names.push(STATUS);
    names
}

/// The function named `name`, with the arguments after the name.
pub fn run(name: &str, args: &[String]) -> ExitCode {
    match functions().into_iter().find(|f| *f == name) {
        Some(INGEST) => ingest::main(args),
        Some(STATUS) => status::main(args),
        Some(function) => function::main(function, args),
        None => {
            eprintln!("{}", unknown(name));
            ExitCode::from(2)
        }
    }
}

/// Which function the bootstrap must be, from `_HANDLER` (set by Lambda from the template's
/// `Handler`) or else from the name it was started by. `None` when neither names one: the caller
/// looks at its arguments. A `_HANDLER` that names no function is an error, not a fall-through: a
/// template's typo must not start some other function.
pub fn chosen(handler: Option<&str>, argv0: &str) -> Result<Option<&'static str>, String> {
    let functions = functions();
    if let Some(handler) = handler.filter(|h| !h.is_empty()) {
        return functions
            .into_iter()
            .find(|f| *f == handler)
            .map(Some)
            .ok_or_else(|| unknown(handler));
    }
    let started_as = std::path::Path::new(argv0)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    Ok(functions.into_iter().find(|f| *f == started_as))
}

fn unknown(name: &str) -> String {
    let name: String = name.chars().take(64).collect();
    format!(
        "lookout: `{}` is not a function; set the function's Handler to one of: {}",
        name.escape_debug(),
        functions().join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handler_names_the_function_before_the_name_it_was_started_by() {
        assert_eq!(
            chosen(Some("kafka-lag"), "/var/task/bootstrap"),
            Ok(Some("kafka-lag"))
        );
        assert_eq!(
            chosen(Some("ingest"), "target/debug/site-status"),
            Ok(Some("ingest"))
        );
        assert_eq!(
            chosen(None, "target/debug/site-status"),
            Ok(Some("site-status"))
        );
        assert_eq!(chosen(Some(""), "/x/host-check"), Ok(Some("host-check")));
        assert_eq!(chosen(None, "target/debug/lookout"), Ok(None));
    }

    #[test]
    fn a_handler_that_names_no_function_is_refused_naming_the_fix() {
        let error = chosen(Some("bootstrap"), "/var/task/bootstrap").unwrap_err();
        assert!(error.contains("`bootstrap` is not a function"), "{error}");
        assert!(error.contains("site-status, speed-test"), "{error}");
        assert!(error.contains("ingest"), "{error}");
    }

    #[test]
    fn every_function_is_served_once() {
        let functions = functions();
        for name in [
            "site-status",
            "speed-test",
            "kafka-lag",
            "heartbeat",
            "host-check",
            "ingest",
            "status",
        ] {
            assert_eq!(
                functions.iter().filter(|f| **f == name).count(),
                1,
                "{name}"
            );
        }
        assert_eq!(functions.len(), 7);
    }
}
