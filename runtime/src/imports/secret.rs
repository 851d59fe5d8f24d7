//! `sluice:function/secret`: the secrets a function's `[secrets]` names, read from their
//! source at each call, and kept out of the attempt's log lines and failure messages.

use std::borrow::Cow;

use super::{Services, State};
use crate::bindings::sluice::function::secret::Host;
use crate::manifest::SecretSource;
use crate::transcript::{Cue, HostCall};

/// What replaces a secret's value in log lines and failure messages.
pub const REDACTED: &str = "[redacted]";

/// The secret values one attempt read: written as [`REDACTED`] wherever the attempt's text
/// reaches the log, a dead letter or `sluice invoke`'s output.
#[derive(Debug, Default, Clone)]
pub struct Revealed(Vec<String>);

impl Revealed {
    /// Remembers `value`.
    fn add(&mut self, value: &str) {
        if !value.is_empty() && !self.0.iter().any(|known| known == value) {
            self.0.push(value.to_owned());
        }
    }

    /// `text` with every value read so far replaced by [`REDACTED`].
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut text = Cow::Borrowed(text);
        for value in &self.0 {
            if text.contains(value.as_str()) {
                text = Cow::Owned(text.replace(value.as_str(), REDACTED));
            }
        }
        text
    }
}

impl State {
    /// The secret values this attempt read.
    pub fn revealed(&self) -> &Revealed {
        &self.revealed
    }
}

impl Host for State {
    async fn get(&mut self, name: String) -> Result<String, String> {
        let function = &*self.call.function;
        let Some(source) = self.call.manifest.secrets.get(&name) else {
            let listed: Vec<String> = self
                .call
                .manifest
                .secrets
                .keys()
                .map(|n| format!("`{n}`"))
                .collect();
            return Err(format!(
                "secret `{name}` denied: function `{function}` may only read [{}] (secrets)",
                listed.join(", ")
            ));
        };
        // A transcript keeps whether the secret could be read, never its value: a replay gets
        // a stand-in, redacted like the value was.
        let call = || HostCall::new("secret.get", name.as_str());
        let value = match self
            .tape
            .as_ref()
            .map(|tape| tape.cue::<Result<(), String>>(&call()))
        {
            Some(Cue::Replayed(read)) => read.map(|()| format!("[secret {name}]")),
            Some(Cue::Diverged(why)) => Err(why),
            Some(Cue::Live) | None => {
                let value = read_secret(&self.call.services, &name, source).await;
                if let Some(tape) = &self.tape {
                    tape.note(call(), &value.as_ref().map(|_| ()));
                }
                value
            }
        }?;
        self.revealed.add(&value);
        Ok(value)
    }
}

/// Reads secret `name` from its `source` (a sealed one through `services`).
async fn read_secret(services: &Services, name: &str, source: &SecretSource) -> Result<String, String> {
    match source {
        SecretSource::Env(variable) => std::env::var(variable)
            .map_err(|_| format!("secret `{name}`: the host's environment has no {variable}")),
        SecretSource::File(path) => tokio::fs::read_to_string(path)
            .await
            .map(|text| text.trim_end_matches(['\n', '\r']).to_owned())
            .map_err(|error| format!("secret `{name}`: cannot read {}: {error}", path.display())),
        SecretSource::Sealed(key) => {
            let Some(sealed) = &services.sealed else {
                return Err(format!(
                    "secret `{name}`: sealed secrets need a host connected to NATS"
                ));
            };
            let bytes = sealed
                .get(key)
                .await
                .map_err(|why| format!("secret `{name}`: {why}"))?;
            String::from_utf8(bytes).map_err(|_| format!("secret `{name}` is not UTF-8 text"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_read_is_redacted_wherever_it_appears() {
        let mut revealed = Revealed::default();
        assert_eq!(revealed.redact("token sk_1"), "token sk_1");
        revealed.add("sk_1");
        revealed.add("");
        revealed.add("hunter2");
        assert_eq!(
            revealed.redact("token sk_1, again sk_1, password hunter2"),
            "token [redacted], again [redacted], password [redacted]"
        );
        assert!(matches!(revealed.redact("nothing secret"), Cow::Borrowed(_)));
    }
}
