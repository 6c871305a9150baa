//! Secrets from one AWS Secrets Manager secret (`LOOKOUT_SECRET_ARN`): a JSON object keyed by
//! variable name, read once at cold start and laid over the environment. Local runs use the
//! environment alone.

use crate::config::{ConfigError, Env, SetupError};

/// The variable that names the secret.
pub const SECRET_ARN_VAR: &str = "LOOKOUT_SECRET_ARN";

/// The pairs of a secret's JSON object; blank values are left out (a placeholder not filled in).
pub fn parse_secret(text: &str) -> Result<Vec<(String, String)>, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|_| "its value is not JSON".to_owned())?;
    let object = value
        .as_object()
        .ok_or_else(|| "its value is not a JSON object".to_owned())?;
    object
        .iter()
        .filter_map(|(key, value)| match value {
            serde_json::Value::String(s) if s.trim().is_empty() => None,
            serde_json::Value::String(s) => Some(Ok((key.clone(), s.clone()))),
            serde_json::Value::Null => None,
            _ => Some(Err(format!("the value of {key} is not a string"))),
        })
        .collect()
}

/// The environment with the secret's values laid over it, when `LOOKOUT_SECRET_ARN` is set.
pub async fn with_secret(env: Env) -> Result<Env, SetupError> {
    let Some(arn) = env.get(SECRET_ARN_VAR).map(str::to_owned) else {
        return Ok(env);
    };
    let refused = |reason: String| -> SetupError {
        ConfigError::invalid(
            SECRET_ARN_VAR,
            &arn,
            reason,
            "point it at a Secrets Manager secret holding a JSON object of variables, readable by this function",
        )
        .into()
    };
    let config = crate::aws::sdk_config().await;
    let client = aws_sdk_secretsmanager::Client::new(&config);
    let output = client
        .get_secret_value()
        .secret_id(&arn)
        .send()
        .await
        .map_err(|e| {
            use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
            let code = e.code().unwrap_or("the request failed").to_owned();
            refused(format!("the secret could not be read: {code}"))
        })?;
    let text = output
        .secret_string()
        .ok_or_else(|| refused("the secret has no string value".into()))?;
    let pairs = parse_secret(text)
        .map_err(|reason| refused(format!("the secret cannot be used: {reason}")))?;
    tracing::info!(keys = pairs.len(), "secrets loaded");
    Ok(env.overlaid(pairs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_a_json_object_of_strings() {
        let pairs = parse_secret(
            r#"{"WECOM_WEBHOOK_URL": "https://x/?key=k", "GLOBALPING_TOKEN": "", "X": null}"#,
        )
        .unwrap();
        assert_eq!(
            pairs,
            vec![(
                "WECOM_WEBHOOK_URL".to_owned(),
                "https://x/?key=k".to_owned()
            )]
        );
        assert!(parse_secret("[1]").is_err());
        assert!(parse_secret("not json").is_err());
        let error = parse_secret(r#"{"A": 1}"#).unwrap_err();
        assert_eq!(error, "the value of A is not a string");
    }

    #[test]
    fn secret_values_lie_over_the_environment() {
        let env = Env::from_pairs([("A", "from env"), ("B", "kept")]);
        let env = env.overlaid(vec![("A".into(), "from secret".into())]);
        assert_eq!(env.get("A"), Some("from secret"));
        assert_eq!(env.get("B"), Some("kept"));
    }
}
