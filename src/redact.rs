//! Every secret the process knows, and the scrubbing of them from any text before it is shown.
//!
//! Secrets are registered as they are read ([`crate::config::Secret::new`], a URL's password, a
//! webhook's key, the AWS credentials). Upstream text can echo a secret in another form than it was
//! sent: percent-encoded in a URL (`%2B` for `+`, upper or lower case), form-encoded (`+` for a
//! space), escaped in JSON. [`scrub`] replaces each form with `<redacted>`; the log writer, the
//! check results, the delivery errors and the report all pass through it.

use std::borrow::Cow;
use std::io::Write;
use std::sync::RwLock;

/// What stands in for a secret.
pub const REDACTED: &str = "<redacted>";
/// Shorter values are not scrubbed: they would blot out ordinary words.
const SHORTEST: usize = 4;

static KNOWN: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Every form in which `secret` may be echoed.
fn forms(secret: &str) -> Vec<String> {
    let mut upper = String::new();
    let mut lower = String::new();
    for byte in secret.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            upper.push(char::from(byte));
            lower.push(char::from(byte));
        } else {
            upper.push_str(&format!("%{byte:02X}"));
            lower.push_str(&format!("%{byte:02x}"));
        }
    }
    let form: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let json = serde_json::to_string(secret)
        .map(|quoted| quoted.trim_matches('"').to_owned())
        .unwrap_or_default();
    // As Rust's `{:?}` quotes it in an error message (`\u{200b}`, `\u{1}`, `\"`).
    let debug = format!("{secret:?}");
    let debug = debug[1..debug.len() - 1].to_owned();
    let mut all = vec![secret.to_owned(), upper, lower, form, json, debug];
    all.retain(|f| f.len() >= SHORTEST);
    all.sort_by_key(|f| std::cmp::Reverse(f.len()));
    all.dedup();
    all
}

/// Remembers a secret, in every form it may be echoed, until the process ends.
pub fn register(secret: &str) {
    let secret = secret.trim();
    if secret.len() < SHORTEST {
        return;
    }
    if let Ok(mut known) = KNOWN.write() {
        for form in forms(secret) {
            if !known.contains(&form) {
                known.push(form);
            }
        }
        // Longest first, so that a secret containing another is replaced whole.
        known.sort_by_key(|f| std::cmp::Reverse(f.len()));
    }
}

/// Remembers a secret value and every part of it that can appear alone: each item of a
/// comma-separated list (lookout splits lists there) and the value of each `name=value` item, and,
/// for a URL, its password and the value of each query parameter as written and decoded (a robot's
/// `key=` echoed back on its own).
pub fn register_with_parts(secret: &str) {
    register(secret);
    register_url_parts(secret.trim());
    for item in secret.split(',') {
        register(item);
        if let Some((_, value)) = item.split_once('=') {
            register(value);
        }
        register_url_parts(item.trim());
    }
}

/// Remembers the secret parts of a URL: its password, and each query value as written and as
/// decoded.
fn register_url_parts(text: &str) {
    let Ok(url) = url::Url::parse(text) else {
        return;
    };
    if let Some(password) = url.password() {
        register(password);
        // `%XX` decoded, a `+` left a `+` (a password is not form-encoded).
        register(&percent_encoding::percent_decode_str(password).decode_utf8_lossy());
    }
    if let Some(query) = url.query() {
        for pair in query.split('&') {
            if let Some((_, value)) = pair.split_once('=') {
                register(value);
            }
        }
    }
    for (_, value) in url.query_pairs() {
        register(&value);
    }
}

/// The text with every known secret, in every form, replaced by `<redacted>`.
pub fn scrub(text: &str) -> Cow<'_, str> {
    let Ok(known) = KNOWN.read() else {
        return Cow::Borrowed(text);
    };
    let mut scrubbed = Cow::Borrowed(text);
    for form in known.iter() {
        if scrubbed.contains(form.as_str()) {
            scrubbed = Cow::Owned(scrubbed.replace(form.as_str(), REDACTED));
        }
    }
    scrubbed
}

/// Scrubs every string in a JSON value, keys included.
pub fn scrub_json(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(text) => {
            if let Cow::Owned(clean) = scrub(text) {
                *text = clean;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(scrub_json),
        Value::Object(map) => {
            let entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
            for (key, mut item) in entries {
                scrub_json(&mut item);
                map.insert(scrub(&key).into_owned(), item);
            }
        }
        _ => {}
    }
}

/// Standard error, scrubbed line by line: the log's writer.
pub struct ScrubbedStderr;

impl Write for ScrubbedStderr {
    fn write(&mut self, buffer: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buffer);
        std::io::stderr()
            .lock()
            .write_all(scrub(&text).as_bytes())?;
        Ok(buffer.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for ScrubbedStderr {
    type Writer = ScrubbedStderr;

    fn make_writer(&'a self) -> Self::Writer {
        ScrubbedStderr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_a_secret_is_scrubbed() {
        let key = "a+b/c d=e-redact-test-1";
        register(key);
        for echoed in [
            "key a+b/c d=e-redact-test-1 refused",
            "hint: key=a%2Bb%2Fc%20d%3De-redact-test-1",
            "hint: key=a%2bb%2fc%20d%3de-redact-test-1",
            "hint: key=a%2Bb%2Fc+d%3De-redact-test-1",
        ] {
            let clean = scrub(echoed);
            assert!(clean.contains(REDACTED), "{echoed} -> {clean}");
            assert!(!clean.contains("redact-test-1"), "{echoed} -> {clean}");
        }
        let mut json = serde_json::json!({"message": "token \"x\" a+b/c d=e-redact-test-1", "list": ["a+b/c d=e-redact-test-1"]});
        scrub_json(&mut json);
        assert!(!json.to_string().contains("redact-test-1"), "{json}");
    }

    #[test]
    fn every_part_of_a_secret_value_and_its_escaped_forms_are_scrubbed() {
        register_with_parts(
            "https://admin:Hunter2-parts-test,Tail-parts-test@shop.example/?key=k+e/y-parts-test&x=1",
        );
        for echoed in [
            "https://admin:Hunter2-parts-test is not a URL",
            "Tail-parts-test@shop.example/?key=k+e/y-parts-test&x=1 is not a URL",
            "hint: [key=k+e/y-parts-test]",
            "hint: key=k%2Be%2Fy-parts-test",
            "decoded: k e/y-parts-test",
        ] {
            let clean = scrub(echoed);
            assert!(!clean.contains("parts-test"), "{echoed} -> {clean}");
        }
        register("zero\u{200b}width\u{1}-escaped-test");
        let quoted = format!("{:?}", "value zero\u{200b}width\u{1}-escaped-test");
        assert!(!scrub(&quoted).contains("escaped-test"), "{quoted}");
    }

    #[test]
    fn short_values_are_not_secrets_to_scrub() {
        register("ab");
        assert_eq!(scrub("a table"), "a table");
    }
}
