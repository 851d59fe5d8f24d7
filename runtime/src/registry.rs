//! The set of deployed functions. Deploying a name that is already deployed hands the new
//! version to the function's running intake: events admitted from then on run the new
//! version, in-flight ones finish on the old one, and subscriptions of unchanged subjects
//! are kept. This is the seam hot reload swaps through.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::dispatch::{Deployment, Dispatcher, Intake, Update};
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

/// Whether a deploy added a function or replaced one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deployed {
    /// The name was not deployed before.
    New,
    /// A previous version was replaced.
    Replaced,
}

impl std::fmt::Display for Deployed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::New => "deployed",
            Self::Replaced => "redeployed",
        })
    }
}

struct Entry {
    deployment: Arc<Deployment>,
    subjects: BTreeSet<String>,
    queue_group: Option<String>,
    updates: mpsc::Sender<Update>,
    stop: CancellationToken,
}

/// Deployed functions by name, each with a running intake.
#[derive(Default)]
pub struct Registry {
    entries: Mutex<BTreeMap<String, Entry>>,
    /// Deploys subscribe (await) between reading and writing `entries`; one at a time.
    deploying: tokio::sync::Mutex<()>,
    intakes: TaskTracker,
}

impl Registry {
    /// Deploys `function`, or replaces the deployed function of the same name.
    pub async fn deploy(&self, dispatcher: &Dispatcher, function: Function) -> Result<Deployed, DeployError> {
        let _one_at_a_time = self.deploying.lock().await;
        let name = function.name().to_string();
        let trigger = &function.manifest().trigger;
        let subjects: BTreeSet<String> = trigger.subjects.iter().map(ToString::to_string).collect();
        let queue_group = trigger.queue_group.clone();
        let previous = self.lock().get(&name).map(|entry| {
            let keep_subscriptions = entry.queue_group == queue_group;
            let kept = if keep_subscriptions {
                entry.subjects.clone()
            } else {
                BTreeSet::new()
            };
            (
                entry.deployment.clone(),
                kept,
                entry.subjects.clone(),
                entry.updates.clone(),
            )
        });
        let Some((old, kept, old_subjects, updates)) = previous else {
            let subscriptions = subscribe(dispatcher, &name, subjects.iter(), &queue_group).await?;
            let deployment = Arc::new(Deployment::new(function));
            let (sender, receiver) = mpsc::channel(4);
            let stop = CancellationToken::new();
            let intake = Intake::new(
                dispatcher.clone(),
                deployment.clone(),
                subscriptions,
                receiver,
                stop.clone(),
            );
            self.intakes.spawn(intake.run());
            let entry = Entry {
                deployment,
                subjects,
                queue_group,
                updates: sender,
                stop,
            };
            self.lock().insert(name, entry);
            return Ok(Deployed::New);
        };
        let added = subjects.difference(&kept);
        let subscribe = subscribe(dispatcher, &name, added, &queue_group).await?;
        let unsubscribe = old_subjects
            .iter()
            .filter(|s| !kept.contains(*s) || !subjects.contains(*s))
            .cloned()
            .collect();
        let deployment = Arc::new(Deployment::replacing(function, &old));
        let (applied, live) = tokio::sync::oneshot::channel();
        let update = Update {
            deployment: deployment.clone(),
            subscribe,
            unsubscribe,
            applied,
        };
        if updates.send(update).await.is_err() || live.await.is_err() {
            tracing::warn!(
                function = name,
                "intake had stopped; the new version is not receiving events"
            );
        }
        if let Some(entry) = self.lock().get_mut(&name) {
            entry.deployment = deployment;
            entry.subjects = subjects;
            entry.queue_group = queue_group;
        }
        Ok(Deployed::Replaced)
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

    /// The deployment of function `name`.
    pub fn get(&self, name: &str) -> Option<Arc<Deployment>> {
        self.lock().get(name).map(|entry| entry.deployment.clone())
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

async fn subscribe(
    dispatcher: &Dispatcher,
    name: &str,
    subjects: impl Iterator<Item = &String>,
    queue_group: &Option<String>,
) -> Result<Vec<(String, async_nats::Subscriber)>, DeployError> {
    let mut subscriptions = Vec::new();
    for subject in subjects {
        let subscribed = match queue_group {
            Some(group) => {
                dispatcher
                    .client
                    .queue_subscribe(subject.clone(), group.clone())
                    .await
            }
            None => dispatcher.client.subscribe(subject.clone()).await,
        };
        let subscriber = subscribed.map_err(|source| DeployError {
            function: name.to_owned(),
            subject: subject.clone(),
            source,
        })?;
        subscriptions.push((subject.clone(), subscriber));
    }
    Ok(subscriptions)
}
