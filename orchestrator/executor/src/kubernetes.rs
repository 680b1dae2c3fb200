//! The `kubernetes` executor: each attempt a Job in a configured namespace, its
//! secrets in a Secret the Job owns. It creates both, watches the Job and its pod
//! (resuming a cut watch from the last resourceVersion, through kube's watcher), reads
//! the pod's log for diagnostics, deletes what it created, and sweeps leftovers of an
//! earlier run at startup.

mod backend;
mod client;
mod follow;
mod launch;
mod settings;
mod spec;
mod status;
mod watch;

use std::{collections::BTreeSet, sync::Arc};

use k8s_openapi::{
    api::{
        batch::v1::Job,
        core::v1::{Pod, Secret},
    },
    apimachinery::pkg::apis::meta::v1::OwnerReference,
};
use kube::{
    Api, Client,
    api::{DeleteParams, ListParams, LogParams, Patch, PatchParams, PostParams},
};

pub use backend::KubernetesBackend;
pub use client::{ClientError, client, load_config};
pub use follow::{Follower, Latest};
pub use launch::{AttemptRef, Launch, Launched, SecretValue, Status};
pub use settings::{DnsLabel, KubernetesSettings, Quantity, SettingError, Toleration};
pub use spec::{ATTEMPT_LABEL, INSTANCE_LABEL, WORKER_CONTAINER, object_name};

/// Why a call to the cluster failed, by step.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("cannot create the attempt's {what}: {source}")]
    Create {
        what: &'static str,
        source: kube::Error,
    },
    #[error("cannot give the attempt's Secret to its Job: {0}")]
    Own(kube::Error),
    #[error("cannot delete {what} {name}: {source}")]
    Delete {
        what: &'static str,
        name: String,
        source: kube::Error,
    },
    #[error("cannot list {what}: {source}")]
    List {
        what: &'static str,
        source: kube::Error,
    },
    #[error("cannot read the pod's log: {0}")]
    Logs(kube::Error),
    #[error("watching the attempt failed {attempts} times in a row: {source}")]
    Watch {
        attempts: u32,
        source: kube::runtime::watcher::Error,
    },
    #[error("the Job was created without a uid")]
    NoUid,
    #[error("cannot read the Job {name}: {source}")]
    Get { name: String, source: kube::Error },
}

/// What a sweep removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Swept {
    pub jobs: Vec<String>,
    pub secrets: Vec<String>,
}

/// Lines and bytes of a pod's log fetched for diagnostics.
pub(crate) const LOG_TAIL_LINES: i64 = 200;
pub(crate) const LOG_MAX_BYTES: i64 = 64 * 1024;

/// The executor: a client and its settings. Cheap to clone.
#[derive(Clone)]
pub struct KubernetesExecutor {
    client: Client,
    settings: Arc<KubernetesSettings>,
}

impl KubernetesExecutor {
    /// Connects as the settings say (kubeconfig or in-cluster).
    pub async fn connect(settings: KubernetesSettings) -> Result<Self, KubeError> {
        let config = load_config(&settings).await?;
        Ok(Self::new(client(config)?, settings))
    }

    pub fn new(client: Client, settings: KubernetesSettings) -> Self {
        Self {
            client,
            settings: Arc::new(settings),
        }
    }

    pub fn settings(&self) -> &KubernetesSettings {
        &self.settings
    }

    fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), self.settings.namespace.as_ref())
    }

    /// Creates the attempt's Secret, then its Job, then makes the Job the Secret's
    /// owner. A failure part-way deletes what was created.
    #[tracing::instrument(skip_all, fields(attempt = %launch.attempt), err)]
    pub async fn launch(&self, launch: &Launch) -> Result<Launched, KubeError> {
        let name = object_name(&launch.attempt);
        let secrets: Api<Secret> = self.api();
        let jobs: Api<Job> = self.api();
        let post = PostParams::default();
        secrets
            .create(&post, &spec::secret(&self.settings, launch))
            .await
            .map_err(|source| KubeError::Create {
                what: "Secret",
                source,
            })?;
        let created = match jobs.create(&post, &spec::job(&self.settings, launch)).await {
            Ok(job) => job,
            Err(source) => {
                if let Err(err) = self.delete_secret(&name).await {
                    tracing::warn!(%err, secret = %name, "cannot delete the Secret of a Job that was not created; the sweep at the next start removes it");
                }
                return Err(KubeError::Create {
                    what: "Job",
                    source,
                });
            }
        };
        let launched = Launched {
            attempt: launch.attempt.clone(),
            name: name.clone(),
            job_uid: created.metadata.uid.ok_or(KubeError::NoUid)?,
        };
        if let Err(e) = self.own_secret(&launched).await {
            if let Err(err) = self.remove(&launched).await {
                tracing::warn!(%err, job = %name, "cannot remove a Job whose Secret it could not own; the sweep at the next start removes it");
            }
            return Err(e);
        }
        Ok(launched)
    }

    async fn own_secret(&self, launched: &Launched) -> Result<(), KubeError> {
        let owner = OwnerReference {
            api_version: "batch/v1".into(),
            kind: "Job".into(),
            name: launched.name.clone(),
            uid: launched.job_uid.clone(),
            controller: Some(false),
            block_owner_deletion: Some(false),
        };
        let patch = serde_json::json!({"metadata": {"ownerReferences": [owner]}});
        self.api::<Secret>()
            .patch(
                &launched.name,
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .map_err(KubeError::Own)?;
        Ok(())
    }

    /// The attempt's statuses as they change, from `Pending` to a final one, after
    /// which the stream ends. A watch that the API server or the network cuts is
    /// resumed; only repeated failures end the stream with an error.
    pub fn watch(
        &self,
        launched: &Launched,
    ) -> futures_util::stream::BoxStream<'static, Result<Status, KubeError>> {
        watch::statuses(self.api(), self.api(), &self.settings, launched)
    }

    /// Follows the attempt in the background: [`Follower::latest`] answers "where is it
    /// now?" without a call to the cluster.
    pub fn follow(&self, launched: &Launched) -> Follower {
        Follower::spawn(self.watch(launched))
    }

    /// The tail of the worker container's log, or `None` when the pod is gone.
    pub async fn logs(&self, launched: &Launched) -> Result<Option<String>, KubeError> {
        let pods: Api<Pod> = self.api();
        let selector = spec::attempt_selector(&self.settings, &launched.attempt);
        let list = pods
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|source| KubeError::List {
                what: "pods",
                source,
            })?;
        let Some(name) = list.items.into_iter().find_map(|p| p.metadata.name) else {
            return Ok(None);
        };
        let params = LogParams {
            container: Some(WORKER_CONTAINER.into()),
            tail_lines: Some(LOG_TAIL_LINES),
            limit_bytes: Some(LOG_MAX_BYTES),
            ..Default::default()
        };
        match pods.logs(&name, &params).await {
            Ok(text) => Ok(Some(text)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(KubeError::Logs(e)),
        }
    }

    /// Deletes the attempt's Job (its pod goes with it, in the background) and Secret.
    /// What is already gone is not an error.
    #[tracing::instrument(skip_all, fields(attempt = %launched.attempt), err)]
    pub async fn remove(&self, launched: &Launched) -> Result<(), KubeError> {
        self.delete_job(&launched.name).await?;
        self.delete_secret(&launched.name).await
    }

    async fn delete_job(&self, name: &str) -> Result<(), KubeError> {
        match self
            .api::<Job>()
            .delete(name, &DeleteParams::background())
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(source) => Err(KubeError::Delete {
                what: "Job",
                name: name.into(),
                source,
            }),
        }
    }

    async fn delete_secret(&self, name: &str) -> Result<(), KubeError> {
        match self
            .api::<Secret>()
            .delete(name, &DeleteParams::default())
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(source) => Err(KubeError::Delete {
                what: "Secret",
                name: name.into(),
                source,
            }),
        }
    }

    /// The attempt's Job, launched by a previous run of this orchestrator, to follow on.
    pub async fn adopt(&self, attempt: AttemptRef) -> Result<Launched, KubeError> {
        let name = spec::object_name(&attempt);
        let job = self
            .api::<Job>()
            .get(&name)
            .await
            .map_err(|source| KubeError::Get {
                name: name.clone(),
                source,
            })?;
        let job_uid = job.metadata.uid.ok_or(KubeError::NoUid)?;
        Ok(Launched {
            attempt,
            name,
            job_uid,
        })
    }

    /// Deletes every Job and Secret this harness labelled, in its namespace: at
    /// startup none of them belongs to a live attempt.
    pub async fn sweep(&self) -> Result<Swept, KubeError> {
        self.sweep_except(&BTreeSet::new()).await
    }

    /// [`Self::sweep`], sparing the objects named in `keep` (re-adopted attempts').
    #[tracing::instrument(skip_all, err)]
    pub(crate) async fn sweep_except(&self, keep: &BTreeSet<String>) -> Result<Swept, KubeError> {
        let params = ListParams::default().labels(&spec::sweep_selector(&self.settings));
        let jobs = self
            .api::<Job>()
            .list(&params)
            .await
            .map_err(|source| KubeError::List {
                what: "Jobs",
                source,
            })?;
        let secrets =
            self.api::<Secret>()
                .list(&params)
                .await
                .map_err(|source| KubeError::List {
                    what: "Secrets",
                    source,
                })?;
        let mut swept = Swept::default();
        let mine = |name: &String| !keep.contains(name);
        for name in jobs
            .items
            .into_iter()
            .filter_map(|j| j.metadata.name)
            .filter(mine)
        {
            self.delete_job(&name).await?;
            swept.jobs.push(name);
        }
        for name in secrets
            .items
            .into_iter()
            .filter_map(|s| s.metadata.name)
            .filter(mine)
        {
            self.delete_secret(&name).await?;
            swept.secrets.push(name);
        }
        if !swept.jobs.is_empty() || !swept.secrets.is_empty() {
            tracing::info!(
                jobs = swept.jobs.len(),
                secrets = swept.secrets.len(),
                "swept leftovers of an earlier run"
            );
        }
        Ok(swept)
    }
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(status) if status.code == 404)
}
