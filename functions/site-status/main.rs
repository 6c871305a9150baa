//! site-status: is the site up? Wiring only; the work is in `lookout::checks::site`.

use std::process::ExitCode;

use lookout::checks::site::{FUNCTION, SiteCheck, SiteSettings};

fn main() -> ExitCode {
    lookout::function::main(FUNCTION, |env| {
        let settings = SiteSettings::from_env(env)?;
        Ok(Box::new(SiteCheck::new(settings)?))
    })
}
