//! How the host authenticates to NATS and secures the connection.
//!
//! The types make contradictory settings unrepresentable (one way to authenticate; a client
//! certificate always comes with its key), so the flags layer validates combinations once
//! and this module only reads the files, naming each file when it cannot be used, before
//! anything touches the network.

use std::fmt;
use std::path::{Path, PathBuf};

use async_nats::ConnectOptions;

/// How the host proves who it is to the NATS server.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Auth {
    /// No credentials, or those written into the URL (`nats://user:password@host`,
    /// `nats://token@host`).
    #[default]
    None,
    /// A `.creds` file: a user JWT and its nkey seed, as `nsc` writes them.
    Credentials(PathBuf),
    /// A file holding an nkey seed (`SU...`).
    NKey(PathBuf),
    /// User name and password.
    UserPassword {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
    /// A bearer token.
    Token(String),
}

/// Secrets stay out of logs and error messages.
impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Credentials(file) => f.debug_tuple("Credentials").field(file).finish(),
            Self::NKey(file) => f.debug_tuple("NKey").field(file).finish(),
            Self::UserPassword { user, .. } => f
                .debug_struct("UserPassword")
                .field("user", user)
                .field("password", &"<redacted>")
                .finish(),
            Self::Token(_) => f.write_str("Token(<redacted>)"),
        }
    }
}

/// A client certificate and its private key, for servers that verify clients (mutual TLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCert {
    /// PEM file of the certificate (chain).
    pub cert: PathBuf,
    /// PEM file of the private key.
    pub key: PathBuf,
}

/// TLS settings. Any of them makes TLS required: a host given a CA never falls back to
/// plain text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tls {
    /// PEM file of the CA certificates that signed the server's certificate; without it,
    /// the system's trusted roots are used.
    pub ca: Option<PathBuf>,
    /// The client certificate presented to the server.
    pub client: Option<ClientCert>,
    /// Refuse servers that do not offer TLS.
    pub required: bool,
}

impl Tls {
    /// Whether the connection must use TLS.
    pub fn is_required(&self) -> bool {
        self.required || self.ca.is_some() || self.client.is_some()
    }
}

/// Everything besides the server URLs that connecting to NATS needs. The default is no
/// authentication and TLS only if the server asks for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionOptions {
    /// How the host authenticates.
    pub auth: Auth,
    /// TLS settings.
    pub tls: Tls,
}

/// A file named by the connection options cannot be used. Each variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    /// The file could not be read.
    #[error("{what} {}: cannot read: {cause}", file.display())]
    Read {
        /// What the file was supposed to be, e.g. `TLS CA file`.
        what: &'static str,
        /// The file.
        file: PathBuf,
        /// The I/O error (in the message, so not repeated as a source).
        cause: std::io::Error,
    },
    /// The file was read but does not hold what it should.
    #[error("{what} {}: {message}", file.display())]
    Invalid {
        /// What the file was supposed to be.
        what: &'static str,
        /// The file.
        file: PathBuf,
        /// What is wrong with it.
        message: String,
    },
}

impl ConnectionOptions {
    /// Reads the files these options name and adds authentication and TLS to `options`.
    pub fn apply(&self, options: ConnectOptions) -> Result<ConnectOptions, OptionsError> {
        let options = self.apply_auth(options)?;
        self.apply_tls(options)
    }

    fn apply_auth(&self, options: ConnectOptions) -> Result<ConnectOptions, OptionsError> {
        Ok(match &self.auth {
            Auth::None => options,
            Auth::Credentials(file) => {
                let what = "NATS credentials file";
                let text = read(what, file)?;
                options
                    .credentials(&text)
                    .map_err(|error| invalid(what, file, error.to_string()))?
            }
            Auth::NKey(file) => options.nkey(nkey_seed(file)?),
            Auth::UserPassword { user, password } => {
                options.user_and_password(user.clone(), password.clone())
            }
            Auth::Token(token) => options.token(token.clone()),
        })
    }

    fn apply_tls(&self, mut options: ConnectOptions) -> Result<ConnectOptions, OptionsError> {
        let tls = &self.tls;
        if let Some(ca) = &tls.ca {
            check_pem("TLS CA file", ca, "CERTIFICATE")?;
            options = options.add_root_certificates(ca.clone());
        }
        if let Some(client) = &tls.client {
            check_pem("TLS certificate", &client.cert, "CERTIFICATE")?;
            check_pem("TLS key", &client.key, "PRIVATE KEY")?;
            options = options.add_client_certificate(client.cert.clone(), client.key.clone());
        }
        Ok(options.require_tls(tls.is_required()))
    }
}

/// Reads `file`, described as `what` in the error.
fn read(what: &'static str, file: &Path) -> Result<String, OptionsError> {
    std::fs::read_to_string(file).map_err(|cause| OptionsError::Read {
        what,
        file: file.to_owned(),
        cause,
    })
}

fn invalid(what: &'static str, file: &Path, message: impl Into<String>) -> OptionsError {
    OptionsError::Invalid {
        what,
        file: file.to_owned(),
        message: message.into(),
    }
}

/// The nkey seed in `file`: its first line that is neither empty nor a comment.
fn nkey_seed(file: &Path) -> Result<String, OptionsError> {
    let what = "NATS nkey seed file";
    let text = read(what, file)?;
    let seed = text
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with('#') && !line.starts_with("//"));
    let seed = seed.ok_or_else(|| invalid(what, file, "holds no nkey seed"))?;
    nkeys::KeyPair::from_seed(seed)
        .map_err(|error| invalid(what, file, format!("holds no valid nkey seed: {error}")))?;
    Ok(seed.to_owned())
}

/// Checks that `file` can be read and holds a PEM block whose label ends in `label`
/// (`CERTIFICATE`; `PRIVATE KEY` also matches `RSA PRIVATE KEY` and `EC PRIVATE KEY`).
fn check_pem(what: &'static str, file: &Path, label: &str) -> Result<(), OptionsError> {
    let text = read(what, file)?;
    let found = text.lines().any(|line| {
        line.trim()
            .strip_prefix("-----BEGIN ")
            .and_then(|rest| rest.strip_suffix("-----"))
            .is_some_and(|found| found.ends_with(label))
    });
    match found {
        true => Ok(()),
        false => Err(invalid(what, file, format!("holds no PEM `{label}` block"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(auth: Auth, tls: Tls) -> ConnectionOptions {
        ConnectionOptions { auth, tls }
    }

    fn error(options: &ConnectionOptions) -> String {
        options.apply(ConnectOptions::new()).unwrap_err().to_string()
    }

    #[test]
    fn a_missing_file_is_named_with_what_it_was_for() {
        let tls = Tls {
            ca: Some("/nonexistent/ca.pem".into()),
            ..Tls::default()
        };
        let message = error(&options(Auth::None, tls));
        assert!(
            message.starts_with("TLS CA file /nonexistent/ca.pem: cannot read: "),
            "{message}"
        );
        let message = error(&options(
            Auth::Credentials("/nonexistent/x.creds".into()),
            Tls::default(),
        ));
        assert!(
            message.starts_with("NATS credentials file /nonexistent/x.creds: cannot read"),
            "{message}"
        );
    }

    #[test]
    fn files_without_what_they_should_hold_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not pem\n").unwrap();
        let client = ClientCert {
            cert: junk.clone(),
            key: junk.clone(),
        };
        let tls = Tls {
            client: Some(client),
            ..Tls::default()
        };
        let message = error(&options(Auth::None, tls));
        assert_eq!(
            message,
            format!(
                "TLS certificate {}: holds no PEM `CERTIFICATE` block",
                junk.display()
            )
        );
        let message = error(&options(Auth::NKey(junk.clone()), Tls::default()));
        assert!(message.contains("holds no valid nkey seed"), "{message}");
        let message = error(&options(Auth::Credentials(junk.clone()), Tls::default()));
        assert!(
            message.starts_with(&format!("NATS credentials file {}: ", junk.display())),
            "{message}"
        );
    }

    #[test]
    fn a_pem_key_of_any_algorithm_is_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.pem");
        std::fs::write(
            &key,
            "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
        )
        .unwrap();
        check_pem("TLS key", &key, "PRIVATE KEY").unwrap();
        assert!(check_pem("TLS CA file", &key, "CERTIFICATE").is_err());
    }

    #[test]
    fn an_nkey_seed_file_may_have_comments() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("user.nk");
        std::fs::write(
            &file,
            "# my seed\n\n  SUANQDPB2RUOE4ETUA26CNX7FUKE5ZZKFCQIIW63OX225F2CO7UEXTM7ZY  \n",
        )
        .unwrap();
        assert_eq!(
            nkey_seed(&file).unwrap(),
            "SUANQDPB2RUOE4ETUA26CNX7FUKE5ZZKFCQIIW63OX225F2CO7UEXTM7ZY"
        );
    }

    #[test]
    fn any_tls_setting_requires_tls() {
        assert!(!Tls::default().is_required());
        let ca = Tls {
            ca: Some("ca.pem".into()),
            ..Tls::default()
        };
        assert!(ca.is_required());
    }

    #[test]
    fn secrets_are_not_debug_printed() {
        let auth = Auth::UserPassword {
            user: "sluice".into(),
            password: "hunter2".into(),
        };
        let printed = format!("{auth:?} {:?}", Auth::Token("t0ken".into()));
        assert!(
            !printed.contains("hunter2") && !printed.contains("t0ken"),
            "{printed}"
        );
        assert!(printed.contains("sluice"), "{printed}");
    }
}
