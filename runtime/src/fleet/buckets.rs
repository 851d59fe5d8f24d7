//! The fleet's three JetStream buckets: components (Object Store, by content hash), desired
//! state (KV, by function name, with history for versions and rollback) and host presence
//! (KV, by host id). Created on first use by whoever may create them, with R3 on a cluster
//! of three or more servers and R1 on one server.

use std::time::Duration;

use async_nats::jetstream::{self, kv, object_store};

/// The buckets' names, the same on every host and deployer of one fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketNames {
    /// Object Store bucket of components, named by SHA-256.
    pub components: String,
    /// KV bucket of desired states, by function name.
    pub functions: String,
    /// KV bucket of host reports, by host id.
    pub hosts: String,
}

impl Default for BucketNames {
    fn default() -> Self {
        Self {
            components: "sluice-components".into(),
            functions: "sluice-functions".into(),
            hosts: "sluice-hosts".into(),
        }
    }
}

/// How many versions of each function the functions bucket keeps (the KV maximum): what
/// `sluice versions` lists and `sluice rollback` can return to.
pub const HISTORY: i64 = 64;

/// How long a host's report stays in the presence bucket after its last update. A host that
/// stops reporting is shown as gone long before (see [`crate::fleet::GONE_AFTER`]).
pub const HOST_REPORT_MAX_AGE: Duration = Duration::from_secs(3600);

/// Why the fleet's buckets cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BucketError {
    /// The server is older than the fleet needs.
    #[error(
        "the fleet needs nats-server {needed} or newer (JetStream key-value and object store); connected to {connected}"
    )]
    ServerTooOld {
        /// The version needed.
        needed: &'static str,
        /// The version of the server connected to.
        connected: String,
    },
    /// A bucket is missing and could not be created, or could not be opened.
    #[error("cannot {action} the fleet's {what} bucket `{bucket}`: {cause}{}", hint(.cause))]
    Unavailable {
        /// `open` or `create`.
        action: &'static str,
        /// What the bucket holds.
        what: &'static str,
        /// Its name.
        bucket: String,
        /// The server's or client's answer.
        cause: String,
    },
}

/// What to check, after a bucket error's cause.
fn hint(cause: &str) -> &'static str {
    if cause.contains("timed out") || cause.contains("no responders") {
        " (is JetStream enabled, and may this NATS user use the $JS.API, $KV and $O subjects? see README, \"Running a fleet\")"
    } else {
        ""
    }
}

/// The oldest nats-server the fleet supports.
pub const MIN_SERVER: (u64, u64) = (2, 10);

/// The fleet's buckets, opened.
#[derive(Clone)]
pub struct Buckets {
    /// Components by SHA-256.
    pub components: object_store::ObjectStore,
    /// Desired states by function name.
    pub functions: kv::Store,
    /// Host reports by host id.
    pub hosts: kv::Store,
    /// Their names.
    pub names: BucketNames,
    /// The JetStream context they were opened through (for the consumers of functions).
    pub js: jetstream::Context,
}

impl Buckets {
    /// Opens the buckets named `names`, creating those that are missing with `replicas`
    /// replicas (`None`: 3 when the server knows of three or more servers in its cluster,
    /// else 1).
    pub async fn open(
        client: &async_nats::Client,
        names: &BucketNames,
        replicas: Option<usize>,
    ) -> Result<Self, BucketError> {
        require_server(client)?;
        let replicas = replicas.unwrap_or_else(|| default_replicas(client));
        let js = jetstream::new(client.clone());
        let components = open_object_store(&js, &names.components, replicas).await?;
        let functions = open_kv(
            &js,
            kv::Config {
                bucket: names.functions.clone(),
                description: "Sluice fleet: desired state of each function".into(),
                history: HISTORY,
                num_replicas: replicas,
                ..Default::default()
            },
            "desired-state",
        )
        .await?;
        let hosts = open_kv(
            &js,
            kv::Config {
                bucket: names.hosts.clone(),
                description: "Sluice fleet: what each host runs".into(),
                history: 1,
                max_age: HOST_REPORT_MAX_AGE,
                num_replicas: replicas,
                ..Default::default()
            },
            "host-presence",
        )
        .await?;
        Ok(Self {
            components,
            functions,
            hosts,
            names: names.clone(),
            js,
        })
    }
}

/// Fails when the connected server is older than [`MIN_SERVER`].
fn require_server(client: &async_nats::Client) -> Result<(), BucketError> {
    match crate::nats::older_than(client, MIN_SERVER) {
        Some(connected) => Err(BucketError::ServerTooOld {
            needed: "2.10",
            connected,
        }),
        None => Ok(()),
    }
}

/// 3 when the server knows three or more servers of its cluster, else 1.
/// How many copies a cluster-wide stream or bucket keeps when nobody said: 3 when the server
/// knows of three or more servers in its cluster, else 1.
pub(crate) fn default_replicas(client: &async_nats::Client) -> usize {
    let info = client.server_info();
    if info.cluster.is_some() && info.connect_urls.len() >= 3 {
        3
    } else {
        1
    }
}

async fn open_kv(
    js: &jetstream::Context,
    config: kv::Config,
    what: &'static str,
) -> Result<kv::Store, BucketError> {
    let bucket = config.bucket.clone();
    let unavailable = |action, cause: String| BucketError::Unavailable {
        action,
        what,
        bucket: bucket.clone(),
        cause,
    };
    match js.get_key_value(&bucket).await {
        Ok(store) => return Ok(store),
        Err(error) if !is_missing(&error.to_string()) => {
            return Err(unavailable("open", error.to_string()));
        }
        Err(_) => {}
    }
    match js.create_key_value(config).await {
        Ok(store) => Ok(store),
        // Another host or deployer created it meanwhile.
        Err(_) if js.get_key_value(&bucket).await.is_ok() => js
            .get_key_value(&bucket)
            .await
            .map_err(|e| unavailable("open", e.to_string())),
        Err(error) => Err(unavailable("create", error.to_string())),
    }
}

async fn open_object_store(
    js: &jetstream::Context,
    bucket: &str,
    replicas: usize,
) -> Result<object_store::ObjectStore, BucketError> {
    let unavailable = |action, cause: String| BucketError::Unavailable {
        action,
        what: "component",
        bucket: bucket.to_owned(),
        cause,
    };
    match js.get_object_store(bucket).await {
        Ok(store) => return Ok(store),
        Err(error) if !is_missing(&error.to_string()) => {
            return Err(unavailable("open", error.to_string()));
        }
        Err(_) => {}
    }
    let config = object_store::Config {
        bucket: bucket.to_owned(),
        description: Some("Sluice fleet: function components by SHA-256".into()),
        num_replicas: replicas,
        ..Default::default()
    };
    match js.create_object_store(config).await {
        Ok(store) => Ok(store),
        Err(_) if js.get_object_store(bucket).await.is_ok() => js
            .get_object_store(bucket)
            .await
            .map_err(|e| unavailable("open", e.to_string())),
        Err(error) => Err(unavailable("create", error.to_string())),
    }
}

/// Whether a get-bucket error says the bucket does not exist.
fn is_missing(error: &str) -> bool {
    error.contains("not found")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_versions_parse() {
        assert!((2, 9) < MIN_SERVER && (2, 10) >= MIN_SERVER);
    }
}
