//! The set of deployed functions. Deploying a name that is already deployed hands the new
//! version to the function's running intake: events admitted from then on run the new
//! version, in-flight ones finish on the old one, and subscriptions of unchanged subjects
//! are kept. This is the seam hot reload swaps through.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::deployment::Deployment;
use crate::dispatch::core::Intake;
use crate::dispatch::jetstream::PullIntake;
use crate::dispatch::jetstream::partition::PartitionedIntake;
use crate::dispatch::{Dispatcher, Update};
use crate::function::Function;
use crate::manifest::{DeliveryMode, Trigger};
use crate::provision::SetupError;
use crate::stats::StatsSnapshot;

mod prepare;

use prepare::{Consumers, deployment_parts, prepare_jetstream};

/// Why a function could not be deployed.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// A core subscription failed.
    #[error("function `{function}`: cannot subscribe to `{subject}`: {source}")]
    Subscribe {
        /// The function.
        function: String,
        /// The subject that failed.
        subject: String,
        /// What NATS said.
        source: async_nats::SubscribeError,
    },
    /// The function's stream, consumer, dead-letter stream, dedupe bucket or state bucket
    /// could not be set up.
    #[error(transparent)]
    JetStream(#[from] SetupError),
    /// The function needs JetStream and the NATS connection has none.
    #[error(
        "function `{function}`: {needs} needs JetStream, which this NATS connection does not offer (start nats-server with -js, or enable JetStream for the account)"
    )]
    NoJetStream {
        /// The function.
        function: String,
        /// What in its manifest needs JetStream, e.g. `trigger.mode = "jetstream"`.
        needs: &'static str,
    },
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
    trigger: Trigger,
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
        let trigger = function.manifest().trigger.clone();
        let previous = self.lock().get(&name).map(|entry| {
            (
                entry.deployment.clone(),
                entry.trigger.clone(),
                entry.updates.clone(),
            )
        });
        let consumer = prepare_jetstream(dispatcher, &function).await?;
        let parts = deployment_parts(dispatcher, function, consumer.is_some()).await?;
        let Some((old, old_trigger, updates)) = previous else {
            let deployment = Deployment::new(parts, dispatcher.abandon.child_token());
            self.start_intake(dispatcher, &name, Arc::new(deployment), consumer)
                .await?;
            return Ok(Deployed::New);
        };
        let deployment = Deployment::replacing(parts, &old);
        if !same_intake(&old_trigger, &trigger) {
            // A new way of receiving events: the old intake stops (its in-flight events
            // finish) and a new one starts.
            self.start_intake(dispatcher, &name, Arc::new(deployment), consumer)
                .await?;
            return Ok(Deployed::Replaced);
        }
        let (subscribe, unsubscribe) = match &trigger.mode {
            DeliveryMode::Core => {
                self.resubscribe(dispatcher, &name, &old_trigger, &trigger)
                    .await?
            }
            DeliveryMode::JetStream(_) => (Vec::new(), Vec::new()),
        };
        self.update(&name, deployment, subscribe, unsubscribe, updates)
            .await;
        Ok(Deployed::Replaced)
    }

    /// Starts an intake for `deployment` and records it, stopping the one it replaces.
    async fn start_intake(
        &self,
        dispatcher: &Dispatcher,
        name: &str,
        deployment: Arc<Deployment>,
        consumer: Option<Consumers>,
    ) -> Result<(), DeployError> {
        let trigger = deployment.function().manifest().trigger.clone();
        let (sender, receiver) = mpsc::channel(4);
        let stop = CancellationToken::new();
        match consumer {
            Some(Consumers::One(consumer)) => {
                let intake = PullIntake::new(
                    dispatcher.clone(),
                    deployment.clone(),
                    consumer,
                    receiver,
                    stop.clone(),
                )
                .await
                .map_err(|source| pull_inbox_error(name, source))?;
                self.intakes.spawn(intake.run());
            }
            Some(Consumers::Partitioned(consumers)) => {
                let key = trigger
                    .ordering
                    .clone()
                    .expect("the manifest checks that partitions come with a key");
                let intake = PartitionedIntake::new(
                    dispatcher.clone(),
                    deployment.clone(),
                    key,
                    consumers,
                    receiver,
                    stop.clone(),
                )
                .await
                .map_err(|source| pull_inbox_error(name, source))?;
                self.intakes.spawn(intake.run());
            }
            None => {
                let subjects: Vec<String> = trigger.subjects.iter().map(ToString::to_string).collect();
                let subscriptions =
                    subscribe(dispatcher, name, subjects.iter(), &trigger.queue_group).await?;
                let intake = Intake::new(
                    dispatcher.clone(),
                    deployment.clone(),
                    subscriptions,
                    receiver,
                    stop.clone(),
                );
                self.intakes.spawn(intake.run());
            }
        }
        let entry = Entry {
            deployment,
            trigger,
            updates: sender,
            stop,
        };
        if let Some(replaced) = self.lock().insert(name.to_owned(), entry) {
            replaced.stop.cancel();
        }
        Ok(())
    }

    /// Core subscriptions a new version needs and the ones it no longer needs.
    async fn resubscribe(
        &self,
        dispatcher: &Dispatcher,
        name: &str,
        old: &Trigger,
        new: &Trigger,
    ) -> Result<(Vec<(String, async_nats::Subscriber)>, Vec<String>), DeployError> {
        let subjects = |trigger: &Trigger| -> BTreeSet<String> {
            trigger.subjects.iter().map(ToString::to_string).collect()
        };
        let (old_subjects, new_subjects) = (subjects(old), subjects(new));
        let kept = match old.queue_group == new.queue_group {
            true => old_subjects.clone(),
            false => BTreeSet::new(),
        };
        let added = new_subjects.difference(&kept);
        let subscribe = subscribe(dispatcher, name, added, &new.queue_group).await?;
        let unsubscribe = old_subjects
            .iter()
            .filter(|s| !kept.contains(*s) || !new_subjects.contains(*s))
            .cloned()
            .collect();
        Ok((subscribe, unsubscribe))
    }

    /// Hands a new version to the running intake and waits until it is live.
    async fn update(
        &self,
        name: &str,
        deployment: Deployment,
        subscribe: Vec<(String, async_nats::Subscriber)>,
        unsubscribe: Vec<String>,
        updates: mpsc::Sender<Update>,
    ) {
        let deployment = Arc::new(deployment);
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
        if let Some(entry) = self.lock().get_mut(name) {
            entry.trigger = deployment.function().manifest().trigger.clone();
            entry.deployment = deployment;
        }
    }

    /// Stops the intake of `name` and returns whether it was deployed. Its in-flight events
    /// get `grace` to finish; in JetStream mode those still running then are handed back to
    /// the server (NAK), like the messages that arrived and were not started.
    pub fn undeploy(&self, name: &str, grace: Duration) -> bool {
        let Some(entry) = self.lock().remove(name) else {
            return false;
        };
        entry.stop.cancel();
        let abandon = entry.deployment.abandon.clone();
        // Not tracked: it owns nothing but the token and ends within `grace`; shutdown must
        // not wait for it (shutdown cancels the token itself when its own grace is over).
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(grace) => abandon.cancel(),
                // The host's shutdown abandoned them already.
                _ = abandon.cancelled() => {}
            }
        });
        true
    }

    /// Names of the deployed functions, sorted.
    pub fn names(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// The deployment of function `name`.
    pub fn get(&self, name: &str) -> Option<Arc<Deployment>> {
        self.lock().get(name).map(|entry| entry.deployment.clone())
    }

    /// The counters of function `name`, with the state of its deployed version's circuit.
    pub fn stats(&self, name: &str) -> Option<StatsSnapshot> {
        self.lock().get(name).map(|entry| StatsSnapshot {
            circuit_open: u64::from(!entry.deployment.breaker.is_closed()),
            ..entry.deployment.stats.snapshot()
        })
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
        let subscriber = subscribed.map_err(|source| DeployError::Subscribe {
            function: name.to_owned(),
            subject: subject.clone(),
            source,
        })?;
        subscriptions.push((subject.clone(), subscriber));
    }
    Ok(subscriptions)
}

/// Whether a new version can keep the running intake: same delivery mode, and for JetStream
/// the same stream, consumer and subjects.
fn pull_inbox_error(function: &str, source: async_nats::SubscribeError) -> DeployError {
    DeployError::Subscribe {
        function: function.to_owned(),
        subject: "its pull inbox".into(),
        source,
    }
}

fn same_intake(old: &Trigger, new: &Trigger) -> bool {
    if old.ordering != new.ordering {
        return false;
    }
    match (&old.mode, &new.mode) {
        (DeliveryMode::Core, DeliveryMode::Core) => true,
        (DeliveryMode::JetStream(a), DeliveryMode::JetStream(b)) => {
            a.stream == b.stream
                && a.consumer == b.consumer
                && a.partitions == b.partitions
                && old.subjects == new.subjects
        }
        _ => false,
    }
}
