//! `[secrets]`: the secrets a function may read, by name, and where each value comes from.
//!
//! ```toml
//! [secrets]
//! stripe_key = "env:STRIPE_KEY"         # the host's environment, read at each use
//! db_password = "file:/run/secrets/db"  # a file on the host, read at each use
//! api_token = "sealed:api_token"        # bucket `sluice-secrets`, sealed to the hosts' xkey
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use sluice_protocol::kv;

/// Where a secret's value comes from. Every source is read when the handler asks, so a
/// changed value takes effect without a redeploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// An environment variable of the host process.
    Env(String),
    /// A file on the host (trailing newlines dropped).
    File(PathBuf),
    /// A key of the `sluice-secrets` bucket, sealed to the hosts' public xkey.
    Sealed(String),
}

impl std::fmt::Display for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Env(variable) => write!(f, "env:{variable}"),
            Self::File(path) => write!(f, "file:{}", path.display()),
            Self::Sealed(key) => write!(f, "sealed:{key}"),
        }
    }
}

/// Validates `[secrets]`: names as handlers ask for them, sources as `env:VAR`, `file:PATH`
/// (absolute) or `sealed:KEY`.
pub(super) fn secrets(raw: BTreeMap<String, String>) -> Result<BTreeMap<String, SecretSource>, String> {
    raw.into_iter()
        .map(|(name, source)| {
            let parsed = parse(&source).map_err(|expected| format!("{name} = {source:?}: {expected}"))?;
            Ok((name, parsed))
        })
        .collect()
}

fn parse(source: &str) -> Result<SecretSource, String> {
    let expected = || "expected `env:VARIABLE`, `file:/absolute/path` or `sealed:KEY`".to_owned();
    let (kind, rest) = source.split_once(':').ok_or_else(expected)?;
    match kind {
        "env" if !rest.is_empty() && !rest.contains(['=', '\0']) => Ok(SecretSource::Env(rest.to_owned())),
        "file" if rest.starts_with('/') => Ok(SecretSource::File(PathBuf::from(rest))),
        "file" => Err(format!("the path must be absolute, found {rest:?}")),
        "sealed" => kv::check_key(rest)
            .map(|()| SecretSource::Sealed(rest.to_owned()))
            .map_err(|why| format!("not a key of the secrets bucket: {why}")),
        _ => Err(expected()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(source: &str) -> Result<SecretSource, String> {
        secrets(BTreeMap::from([("s".to_owned(), source.to_owned())])).map(|mut all| all.remove("s").unwrap())
    }

    #[test]
    fn sources_are_env_file_or_sealed() {
        assert_eq!(one("env:STRIPE_KEY"), Ok(SecretSource::Env("STRIPE_KEY".into())));
        assert_eq!(
            one("file:/run/secrets/db"),
            Ok(SecretSource::File("/run/secrets/db".into()))
        );
        assert_eq!(
            one("sealed:api_token"),
            Ok(SecretSource::Sealed("api_token".into()))
        );
        assert!(one("file:relative").unwrap_err().contains("must be absolute"));
        assert!(
            one("vault:x")
                .unwrap_err()
                .starts_with("s = \"vault:x\": expected `env:VARIABLE`")
        );
        assert!(one("plain-text").unwrap_err().contains("expected"));
        assert!(one("sealed:bad key").unwrap_err().contains("not a key"));
        assert_eq!(one("env:X").unwrap().to_string(), "env:X");
    }
}
