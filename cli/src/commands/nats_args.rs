//! The NATS authentication and TLS flags shared by `up`, `dev`, `publish` and `dlq`, and their
//! conversion into the library's [`ConnectionOptions`], rejecting contradictory combinations.

use std::path::PathBuf;

use sluice_runtime::nats::{Auth, ClientCert, ConnectionOptions, Tls};

use super::UsageError;

/// How to authenticate to NATS and secure the connection.
#[derive(Debug, Default, clap::Args)]
pub struct NatsArgs {
    /// NATS credentials file (user JWT + nkey seed, as written by `nsc`).
    #[arg(long, value_name = "FILE")]
    pub nats_creds: Option<PathBuf>,
    /// File holding an nkey seed (SU...) to authenticate with.
    #[arg(long, value_name = "FILE")]
    pub nats_nkey: Option<PathBuf>,
    /// NATS user name (needs --nats-password).
    #[arg(long, value_name = "USER")]
    pub nats_user: Option<String>,
    /// NATS password of --nats-user.
    #[arg(
        long,
        value_name = "PASS",
        env = "SLUICE_NATS_PASSWORD",
        hide_env_values = true
    )]
    pub nats_password: Option<String>,
    /// NATS authentication token.
    #[arg(long, value_name = "TOKEN", env = "SLUICE_NATS_TOKEN", hide_env_values = true)]
    pub nats_token: Option<String>,
    /// PEM file of the CA certificates that signed the server's certificate (default: the
    /// system's trusted roots). Implies --tls-required.
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// PEM file of the client certificate, for servers that verify clients (needs --tls-key).
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM file of the client certificate's private key (needs --tls-cert).
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Refuse NATS servers that do not offer TLS.
    #[arg(long)]
    pub tls_required: bool,
}

impl NatsArgs {
    /// The connection options these flags describe, or a usage error naming the flags that
    /// do not go together.
    pub fn options(&self) -> Result<ConnectionOptions, UsageError> {
        Ok(ConnectionOptions {
            auth: self.auth()?,
            tls: self.tls()?,
        })
    }

    fn auth(&self) -> Result<Auth, UsageError> {
        let given: Vec<&str> = [
            ("--nats-creds", self.nats_creds.is_some()),
            ("--nats-nkey", self.nats_nkey.is_some()),
            ("--nats-user", self.nats_user.is_some()),
            ("--nats-token", self.nats_token.is_some()),
        ]
        .into_iter()
        .filter_map(|(flag, set)| set.then_some(flag))
        .collect();
        if given.len() > 1 {
            return Err(UsageError(format!(
                "{} cannot be combined: choose one way to authenticate to NATS",
                given.join(" and ")
            )));
        }
        match (&self.nats_user, &self.nats_password) {
            (Some(_), None) => {
                return Err(usage(
                    "--nats-user needs --nats-password (or SLUICE_NATS_PASSWORD)",
                ));
            }
            (None, Some(_)) => {
                return Err(usage(
                    "--nats-password (or SLUICE_NATS_PASSWORD) needs --nats-user",
                ));
            }
            _ => {}
        }
        Ok(if let Some(file) = &self.nats_creds {
            Auth::Credentials(file.clone())
        } else if let Some(file) = &self.nats_nkey {
            Auth::NKey(file.clone())
        } else if let (Some(user), Some(password)) = (&self.nats_user, &self.nats_password) {
            Auth::UserPassword {
                user: user.clone(),
                password: password.clone(),
            }
        } else if let Some(token) = &self.nats_token {
            Auth::Token(token.clone())
        } else {
            Auth::None
        })
    }

    fn tls(&self) -> Result<Tls, UsageError> {
        let client = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(ClientCert {
                cert: cert.clone(),
                key: key.clone(),
            }),
            (Some(_), None) => {
                return Err(usage(
                    "--tls-cert needs --tls-key (the certificate's private key)",
                ));
            }
            (None, Some(_)) => {
                return Err(usage(
                    "--tls-key needs --tls-cert (the certificate it belongs to)",
                ));
            }
            (None, None) => None,
        };
        Ok(Tls {
            ca: self.tls_ca.clone(),
            client,
            required: self.tls_required,
        })
    }
}

fn usage(message: &str) -> UsageError {
    UsageError(message.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(args: NatsArgs) -> String {
        args.options().unwrap_err().to_string()
    }

    #[test]
    fn no_flags_mean_no_auth_and_optional_tls() {
        assert_eq!(
            NatsArgs::default().options().unwrap(),
            ConnectionOptions::default()
        );
    }

    #[test]
    fn user_and_password_go_together() {
        let user_only = NatsArgs {
            nats_user: Some("sluice".into()),
            ..NatsArgs::default()
        };
        assert_eq!(
            error(user_only),
            "--nats-user needs --nats-password (or SLUICE_NATS_PASSWORD)"
        );
        let password_only = NatsArgs {
            nats_password: Some("pw".into()),
            ..NatsArgs::default()
        };
        assert!(error(password_only).starts_with("--nats-password"));
        let both = NatsArgs {
            nats_user: Some("sluice".into()),
            nats_password: Some("pw".into()),
            ..NatsArgs::default()
        };
        let expected = Auth::UserPassword {
            user: "sluice".into(),
            password: "pw".into(),
        };
        assert_eq!(both.options().unwrap().auth, expected);
    }

    #[test]
    fn one_way_to_authenticate() {
        let args = NatsArgs {
            nats_creds: Some("a.creds".into()),
            nats_token: Some("t".into()),
            ..NatsArgs::default()
        };
        assert_eq!(
            error(args),
            "--nats-creds and --nats-token cannot be combined: choose one way to authenticate to NATS"
        );
    }

    #[test]
    fn a_client_certificate_needs_its_key() {
        let cert_only = NatsArgs {
            tls_cert: Some("client.pem".into()),
            ..NatsArgs::default()
        };
        assert!(error(cert_only).starts_with("--tls-cert needs --tls-key"));
        let key_only = NatsArgs {
            tls_key: Some("client-key.pem".into()),
            ..NatsArgs::default()
        };
        assert!(error(key_only).starts_with("--tls-key needs --tls-cert"));
    }
}
