//! The kubernetes executor behind the scheduler's [`ExecutorBackend`] interface:
//! translates an `executor::Launch` into this module's own launch (secrets apart, the
//! attempt id as an [`AttemptRef`]) and answers `status` from one background
//! [`Follower`] per attempt, so polling never calls the cluster.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::{Mutex, PoisonError},
};

use futures_util::future::BoxFuture;

use super::{
    AttemptRef, Follower, KubernetesExecutor, Latest, Launch as KubeLaunch, Launched, SecretValue,
    Status as KubeStatus,
};
use crate::{
    ExecutorBackend, ExecutorError, ExecutorKind, Handle, Launch, Status, kubernetes::Swept,
};

/// Environment variables that go into the attempt's Secret rather than the Job's spec.
const SECRET_ENV: [&str; 2] = [harness_worker::ENV_TOKEN, "ANTHROPIC_API_KEY"];

/// One attempt being followed: what was created and its background watch.
struct Followed {
    launched: Launched,
    follower: Follower,
}

/// [`KubernetesExecutor`] as an [`ExecutorBackend`]. Share it as
/// `Arc<dyn ExecutorBackend>`.
pub struct KubernetesBackend {
    executor: KubernetesExecutor,
    followed: Mutex<HashMap<i64, Followed>>,
}

impl KubernetesBackend {
    pub fn new(executor: KubernetesExecutor) -> Self {
        Self {
            executor,
            followed: Mutex::default(),
        }
    }

    fn followed<T>(&self, f: impl FnOnce(&mut HashMap<i64, Followed>) -> T) -> T {
        // A panic while holding the map leaves it usable: every entry is whole.
        let mut map = self.followed.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut map)
    }

    fn launched(&self, handle: &Handle) -> Option<Launched> {
        self.followed(|m| m.get(&handle.attempt).map(|f| f.launched.clone()))
    }
}

/// The module's own launch: the worker's secrets apart from its plain environment.
fn kube_launch(launch: &Launch) -> Result<KubeLaunch, ExecutorError> {
    let attempt =
        AttemptRef::parse(launch.attempt.to_string()).ok_or_else(|| ExecutorError::Launch {
            attempt: launch.attempt,
            message: "the attempt id is not usable in a Kubernetes name".into(),
        })?;
    let (secret, plain): (Vec<_>, Vec<_>) = launch
        .env
        .iter()
        .partition(|(name, _)| SECRET_ENV.contains(&name.as_str()));
    Ok(KubeLaunch {
        attempt,
        image: Some(launch.image.clone()),
        args: launch.command.clone(),
        env: plain
            .into_iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        secret_env: secret
            .into_iter()
            .map(|(k, v)| (k.clone(), SecretValue::new(v.clone())))
            .collect(),
        timeout: launch.deadline,
        limits: Some(launch.limits),
    })
}

/// The scheduler's view of a followed attempt.
fn status_of(name: &str, latest: Latest) -> Result<Status, ExecutorError> {
    Ok(match latest {
        Latest::Status(KubeStatus::Pending) => Status::Pending,
        Latest::Status(KubeStatus::Running { node, .. }) => Status::Running { node },
        Latest::Status(KubeStatus::Succeeded) => Status::Exited(0),
        Latest::Status(KubeStatus::Failed {
            exit_code: Some(code),
            ..
        }) => Status::Exited(i64::from(code)),
        Latest::Status(KubeStatus::Failed {
            reason,
            exit_code: None,
        }) => Status::Failed {
            reason,
            uses_attempt: true,
        },
        Latest::Status(KubeStatus::NotStarted { reason }) => Status::Failed {
            reason,
            uses_attempt: false,
        },
        Latest::Lost(err) => {
            return Err(ExecutorError::Status {
                name: name.to_owned(),
                message: err.to_string(),
            });
        }
    })
}

impl ExecutorBackend for KubernetesBackend {
    fn kind(&self) -> ExecutorKind {
        ExecutorKind::Kubernetes
    }

    fn launch<'a>(&'a self, launch: &'a Launch) -> BoxFuture<'a, Result<Handle, ExecutorError>> {
        Box::pin(async move {
            let kube_launch = kube_launch(launch)?;
            let launched =
                self.executor
                    .launch(&kube_launch)
                    .await
                    .map_err(|e| ExecutorError::Launch {
                        attempt: launch.attempt,
                        message: e.to_string(),
                    })?;
            let follower = self.executor.follow(&launched);
            let handle = Handle {
                attempt: launch.attempt,
                id: launched.name.clone(),
                name: launched.name.clone(),
                node: None,
            };
            self.followed(|m| m.insert(launch.attempt, Followed { launched, follower }));
            Ok(handle)
        })
    }

    fn status<'a>(&'a self, handle: &'a Handle) -> BoxFuture<'a, Result<Status, ExecutorError>> {
        Box::pin(async move {
            let latest = self.followed(|m| m.get(&handle.attempt).map(|f| f.follower.latest()));
            match latest {
                Some(latest) => status_of(&handle.name, latest),
                None => Ok(Status::Lost(format!(
                    "Job {} is not followed by this orchestrator",
                    handle.name
                ))),
            }
        })
    }

    fn logs_tail<'a>(&'a self, handle: &'a Handle, max_bytes: usize) -> BoxFuture<'a, String> {
        Box::pin(async move {
            let Some(launched) = self.launched(handle) else {
                return String::new();
            };
            match self.executor.logs(&launched).await {
                Ok(Some(text)) => tail(text, max_bytes),
                Ok(None) => String::new(),
                Err(err) => {
                    tracing::debug!(%err, job = %handle.name, "cannot read the worker's log");
                    String::new()
                }
            }
        })
    }

    fn remove<'a>(&'a self, handle: &'a Handle) -> BoxFuture<'a, Result<(), ExecutorError>> {
        Box::pin(async move {
            // Dropping the follower stops its watch.
            let followed = self.followed(|m| m.remove(&handle.attempt));
            let launched = match followed {
                Some(f) => f.launched,
                None => {
                    let Some(attempt) = AttemptRef::parse(handle.attempt.to_string()) else {
                        return Ok(());
                    };
                    Launched {
                        attempt,
                        name: handle.id.clone(),
                        job_uid: String::new(),
                    }
                }
            };
            self.executor
                .remove(&launched)
                .await
                .map_err(|e| ExecutorError::Remove {
                    name: handle.name.clone(),
                    message: e.to_string(),
                })
        })
    }

    /// Finds the attempt's Job (its name is the attempt's) and watches it again.
    fn adopt<'a>(
        &'a self,
        attempt: i64,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Handle, ExecutorError>> {
        Box::pin(async move {
            let fail = |message: String| ExecutorError::Adopt {
                attempt,
                name: name.to_owned(),
                message,
            };
            let attempt_ref = AttemptRef::parse(attempt.to_string())
                .ok_or_else(|| fail("the attempt id is not usable in a Kubernetes name".into()))?;
            let launched = self
                .executor
                .adopt(attempt_ref)
                .await
                .map_err(|e| fail(e.to_string()))?;
            let follower = self.executor.follow(&launched);
            let handle = Handle {
                attempt,
                id: launched.name.clone(),
                name: launched.name.clone(),
                node: None,
            };
            self.followed(|m| m.insert(attempt, Followed { launched, follower }));
            Ok(handle)
        })
    }

    /// Sweeps by this executor's own labels (its `instance` setting in its namespace):
    /// the scheduler's owner labels are not put on Kubernetes objects.
    fn sweep<'a>(
        &'a self,
        _labels: &'a BTreeMap<String, String>,
        keep: &'a BTreeSet<i64>,
    ) -> BoxFuture<'a, Result<usize, ExecutorError>> {
        Box::pin(async move {
            let keep: BTreeSet<String> = keep
                .iter()
                .filter_map(|a| AttemptRef::parse(a.to_string()))
                .map(|a| super::spec::object_name(&a))
                .collect();
            let Swept { jobs, .. } =
                self.executor
                    .sweep_except(&keep)
                    .await
                    .map_err(|e| ExecutorError::Sweep {
                        message: e.to_string(),
                    })?;
            Ok(jobs.len())
        })
    }
}

/// The last `max_bytes` of `text`, cut at a character boundary.
fn tail(text: String, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text;
    }
    let mut start = text.len() - max_bytes;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_owned()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{Limits, NetworkMode};

    #[test]
    fn the_credential_and_model_key_go_to_the_secret_the_rest_to_plain_env() {
        let launch = Launch {
            attempt: 12,
            image: "debian:bookworm-slim".into(),
            command: vec!["worker".into()],
            env: BTreeMap::from([
                (harness_worker::ENV_URL.into(), "http://h:1".into()),
                (harness_worker::ENV_TOKEN.into(), "tok".into()),
                ("ANTHROPIC_API_KEY".into(), "key".into()),
            ]),
            limits: Limits::default(),
            network: NetworkMode::default(),
            labels: BTreeMap::new(),
            deadline: Duration::from_secs(900),
        };
        let k = kube_launch(&launch).unwrap();
        assert_eq!(k.attempt.as_ref(), "12");
        assert_eq!(
            k.env,
            vec![(harness_worker::ENV_URL.to_owned(), "http://h:1".to_owned())]
        );
        let mut secret: Vec<_> = k.secret_env.iter().map(|(n, _)| n.as_str()).collect();
        secret.sort_unstable();
        assert_eq!(secret, ["ANTHROPIC_API_KEY", harness_worker::ENV_TOKEN]);
        assert_eq!(k.timeout, Duration::from_secs(900), "no extra slack");
        assert_eq!(k.limits, Some(Limits::default()));
    }

    #[test]
    fn statuses_map_to_the_scheduler_s() {
        let map = |s| status_of("j", Latest::Status(s)).unwrap();
        assert_eq!(map(KubeStatus::Succeeded), Status::Exited(0));
        assert_eq!(
            map(KubeStatus::Failed {
                reason: "worker exited 3".into(),
                exit_code: Some(3)
            }),
            Status::Exited(3)
        );
        assert_eq!(
            map(KubeStatus::Failed {
                reason: "deadline".into(),
                exit_code: None
            }),
            Status::Failed {
                reason: "deadline".into(),
                uses_attempt: true
            }
        );
        assert_eq!(
            map(KubeStatus::NotStarted {
                reason: "ImagePullBackOff".into()
            }),
            Status::Failed {
                reason: "ImagePullBackOff".into(),
                uses_attempt: false
            }
        );
    }

    #[test]
    fn a_tail_is_cut_at_a_character_boundary() {
        assert_eq!(tail("abcdef".into(), 3), "def");
        assert_eq!(tail("aé".into(), 1), "");
        assert_eq!(tail("ab".into(), 10), "ab");
    }
}
