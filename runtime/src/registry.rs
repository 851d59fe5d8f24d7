//! The set of deployed functions. Deploying a name that is already deployed replaces it:
//! the old intake stops (its in-flight events finish on the old version) and the new one
//! subscribes. This is the seam hot reload swaps through.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures::stream::SelectAll;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::dispatch::{Deployment, Dispatcher};
use crate::function::Function;
use crate::stats::StatsSnapshot;

/// Why a function could not be deployed.
#[derive(Debug, thiserror::Error)]
#[error("function `{function}`: cannot subscribe to `{subject}`: {source}")]
pub struct DeployError {
    /// The function.
    pub function: String,
    /// The subject that failed.
    pub subject: String,
    /// What NATS said.
    pub source: async_nats::SubscribeError,
}

struct Entry {
    deployment: Arc<Deployment>,
    stop: CancellationToken,
}

/// Deployed functions by name, each with a running intake.
#[derive(Default)]
pub struct Registry {
    entries: Mutex<BTreeMap<String, Entry>>,
    intakes: TaskTracker,
}

impl Registry {
    /// Subscribes `function` to its subjects and starts its intake, replacing any deployed
    /// function of the same name.
    pub async fn deploy(&self, dispatcher: &Dispatcher, function: Function) -> Result<(), DeployError> {
        let name = function.name().to_string();
        let trigger = &function.manifest().trigger;
        let mut subscriptions = SelectAll::new();
        for subject in &trigger.subjects {
            let subscribed = match &trigger.queue_group {
                Some(group) => {
                    dispatcher
                        .client
                        .queue_subscribe(subject.to_string(), group.clone())
                        .await
                }
                None => dispatcher.client.subscribe(subject.to_string()).await,
            };
            let subscriber = subscribed.map_err(|source| DeployError {
                function: name.clone(),
                subject: subject.to_string(),
                source,
            })?;
            subscriptions.push(subscriber);
        }
        let deployment = Arc::new(Deployment::new(function));
        let stop = CancellationToken::new();
        self.intakes.spawn(
            dispatcher
                .clone()
                .run_intake(deployment.clone(), subscriptions, stop.clone()),
        );
        let previous = self.lock().insert(name, Entry { deployment, stop });
        if let Some(previous) = previous {
            previous.stop.cancel();
        }
        Ok(())
    }

    /// Stops the intake of `name`; its in-flight events finish. Returns whether it was deployed.
    pub fn undeploy(&self, name: &str) -> bool {
        let removed = self.lock().remove(name);
        removed.map(|entry| entry.stop.cancel()).is_some()
    }

    /// Names of the deployed functions, sorted.
    pub fn names(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// The counters of function `name`.
    pub fn stats(&self, name: &str) -> Option<StatsSnapshot> {
        self.lock()
            .get(name)
            .map(|entry| entry.deployment.stats.snapshot())
    }

    /// Stops every intake and waits until each has handed its received events to a task.
    pub async fn stop_all(&self) {
        for entry in self.lock().values() {
            entry.stop.cancel();
        }
        self.intakes.close();
        self.intakes.wait().await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        self.entries.lock().expect("registry lock poisoned")
    }
}
