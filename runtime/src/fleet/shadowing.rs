//! The deployer's side of shadow versions: `sluice deploy --shadow` writes a shadow record
//! (`shadow.NAME`) beside the function's desired state, every host runs the candidate beside
//! the live version (see [`crate::shadow`]), `sluice promote` makes the candidate the desired
//! state and `sluice shadow stop` removes the record.

use super::bundle::Bundle;
use super::control::{Fleet, retry_while_failing_over};
use super::desired::{DesiredState, current_user, now_rfc3339};
use super::records::{ShadowRecord, shadow_key, to_json};

impl Fleet {
    /// Makes `bundle` shadow its live function on every host, on a `sample` share of events
    /// (0 to 1), calling only the `http` hosts; replaces an earlier shadow. Fails when the
    /// function is not deployed, or the candidate is the live version.
    pub async fn shadow(
        &self,
        bundle: &Bundle,
        sample: f64,
        http: Vec<String>,
        by: Option<&str>,
    ) -> anyhow::Result<ShadowRecord> {
        let name = &bundle.name;
        let Some(live) = self.desired(name).await? else {
            anyhow::bail!(
                "`{name}` is not deployed: a shadow runs beside the live version, so deploy that first"
            );
        };
        if live.version == bundle.version {
            anyhow::bail!(
                "the candidate is version {} of `{name}`, which is live already: nothing to compare",
                live.version
            );
        }
        let candidate = DesiredState::of(bundle, by);
        self.upload(&candidate.component, &bundle.component).await?;
        let record = ShadowRecord {
            candidate,
            sample,
            http,
        };
        let functions = &self.buckets().functions;
        let key = shadow_key(name);
        retry_while_failing_over(async || functions.put(key.as_str(), to_json(&record).into()).await).await?;
        Ok(record)
    }

    /// The shadow of `name`, if one runs.
    pub async fn shadow_of(&self, name: &str) -> anyhow::Result<Option<ShadowRecord>> {
        let Some(value) = self.buckets().functions.get(shadow_key(name).as_str()).await? else {
            return Ok(None);
        };
        Ok(Some(serde_json::from_slice(&value)?))
    }

    /// Stops shadowing `name` on every host; returns whether a shadow ran.
    pub async fn stop_shadow(&self, name: &str) -> anyhow::Result<bool> {
        if self.shadow_of(name).await?.is_none() {
            return Ok(false);
        }
        let functions = &self.buckets().functions;
        let key = shadow_key(name);
        retry_while_failing_over(async || functions.delete(key.as_str()).await).await?;
        Ok(true)
    }

    /// Makes `name`'s shadow the desired state (a normal deploy, by `by`) and stops the
    /// shadow; returns the new desired state.
    pub async fn promote(&self, name: &str, by: Option<&str>) -> anyhow::Result<DesiredState> {
        let Some(record) = self.shadow_of(name).await? else {
            anyhow::bail!("`{name}` has no shadow version to promote (see `sluice deploy --shadow`)");
        };
        let mut state = record.candidate;
        state.deployed_by = by.map_or_else(current_user, str::to_owned);
        state.deployed_at = now_rfc3339();
        self.write(&state).await?;
        self.stop_shadow(name).await?;
        Ok(state)
    }
}
