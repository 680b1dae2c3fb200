//! The `docker` executor: a fresh container per attempt through the Docker Engine API
//! (bollard), on the local socket or `DOCKER_HOST` (tcp with `DOCKER_TLS_VERIFY`,
//! https, ssh).
//!
//! The container runs the orchestrator's own `harness` binary, bind-mounted read-only,
//! as `harness worker`, so any image with a libc and a shell works. It runs as a non-root
//! user with no capabilities, no privilege escalation, a read-only root filesystem with
//! tmpfs for `/tmp` and the work directory, CPU, memory and process limits, and no
//! Docker socket. It is labelled with the attempt and removed when the attempt ends;
//! `sweep` removes leftovers of a previous run.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bollard::{
    Docker,
    models::{ContainerCreateBody, ContainerStateStatusEnum, HostConfig},
    query_parameters::{
        CreateContainerOptions, InspectContainerOptions, ListContainersOptions, LogsOptions,
        RemoveContainerOptions, StartContainerOptions,
    },
};
use futures_util::{StreamExt, future::BoxFuture};

use super::{ExecutorBackend, ExecutorError, ExecutorKind, Handle, Launch, NetworkMode, Status};
use crate::RemoteSettings;

/// Where the harness binary is mounted in the container.
pub(crate) const BINARY_IN_CONTAINER: &str = "/opt/harness/harness";
/// The worker's scratch directory (tmpfs).
pub(crate) const WORK_DIR: &str = "/work";
/// The user the worker runs as (the conventional "nonroot" uid/gid).
pub const USER: &str = "65532:65532";

pub struct DockerBackend {
    docker: Docker,
    /// The harness binary on the engine's host.
    binary: String,
    /// The engine's host name (`docker info`): where the workers run.
    host: Option<String>,
}

fn err(step: &'static str) -> impl Fn(bollard::errors::Error) -> ExecutorError {
    move |e| ExecutorError::Connect {
        backend: "docker",
        message: format!("{step}: {e}"),
    }
}

impl DockerBackend {
    /// Connects with `DOCKER_HOST` (or the local socket) and checks the engine answers.
    pub async fn connect(settings: &RemoteSettings) -> Result<Self, ExecutorError> {
        let docker = Docker::connect_with_defaults().map_err(err("connect"))?;
        docker.ping().await.map_err(err("ping"))?;
        let host = docker.info().await.ok().and_then(|info| info.name);
        let binary = match &settings.harness_binary {
            Some(path) => path.clone(),
            None => std::env::current_exe().map_err(|e| ExecutorError::Connect {
                backend: "docker",
                message: format!("cannot find the harness binary to mount: {e}"),
            })?,
        };
        Ok(Self {
            docker,
            binary: binary.display().to_string(),
            host,
        })
    }

    /// `harness-<owner>-<attempt>`: attempt ids restart at 1 in every installation, and
    /// one engine may serve several (the owner label says whose it is).
    fn container_name(launch: &Launch) -> String {
        match launch.labels.get(super::LABEL_OWNER) {
            Some(owner) => format!("harness-{owner}-{}", launch.attempt),
            None => format!("harness-attempt-{}", launch.attempt),
        }
    }

    fn body(&self, launch: &Launch) -> ContainerCreateBody {
        let mut env: Vec<String> = launch.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        env.push(format!("{}={WORK_DIR}", harness_worker::ENV_DIR));
        if !launch.env.contains_key(harness_worker::ENV_SANDBOX) {
            env.push(format!(
                "{}={}",
                harness_worker::ENV_SANDBOX,
                harness_worker::CONTAINER_SANDBOX
            ));
        }
        env.push("HOME=/tmp".into());
        env.push("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
        let limits = launch.limits;
        let memory = i64::try_from(limits.memory_mb.saturating_mul(1 << 20)).unwrap_or(i64::MAX);
        let host_config = HostConfig {
            binds: Some(vec![format!("{}:{BINARY_IN_CONTAINER}:ro", self.binary)]),
            memory: Some(memory),
            // No swap beyond the memory limit.
            memory_swap: Some(memory),
            nano_cpus: Some(
                i64::try_from(limits.millicpus.saturating_mul(1_000_000)).unwrap_or(i64::MAX),
            ),
            pids_limit: Some(i64::try_from(limits.pids).unwrap_or(i64::MAX)),
            cap_drop: Some(vec!["ALL".into()]),
            security_opt: Some(vec!["no-new-privileges:true".into()]),
            readonly_rootfs: Some(true),
            tmpfs: Some(HashMap::from([
                (
                    "/tmp".to_owned(),
                    "rw,nosuid,nodev,exec,size=512m,mode=1777".to_owned(),
                ),
                (
                    WORK_DIR.to_owned(),
                    format!(
                        "rw,nosuid,nodev,exec,size={}m,mode=0700,uid=65532,gid=65532",
                        limits.memory_mb
                    ),
                ),
            ])),
            network_mode: Some(launch.network.as_str().to_owned()),
            extra_hosts: (launch.network != NetworkMode::None)
                .then(|| vec!["host.docker.internal:host-gateway".into()]),
            init: Some(true),
            ..HostConfig::default()
        };
        ContainerCreateBody {
            image: Some(launch.image.clone()),
            entrypoint: Some(vec![BINARY_IN_CONTAINER.into()]),
            cmd: Some(launch.command.clone()),
            env: Some(env),
            user: Some(USER.into()),
            working_dir: Some(WORK_DIR.into()),
            labels: Some(launch.labels.clone().into_iter().collect()),
            network_disabled: Some(launch.network == NetworkMode::None),
            host_config: Some(host_config),
            ..ContainerCreateBody::default()
        }
    }
}

impl ExecutorBackend for DockerBackend {
    fn kind(&self) -> ExecutorKind {
        ExecutorKind::Docker
    }

    fn launch<'a>(&'a self, launch: &'a Launch) -> BoxFuture<'a, Result<Handle, ExecutorError>> {
        Box::pin(async move {
            let fail = |e: bollard::errors::Error| ExecutorError::Launch {
                attempt: launch.attempt,
                message: e.to_string(),
            };
            let name = Self::container_name(launch);
            // A container of the same attempt can only be a leftover. Usually there is
            // none (404); one that cannot be removed makes the create below fail with
            // the conflict.
            let cleared = self
                .docker
                .remove_container(
                    &name,
                    Some(RemoveContainerOptions {
                        force: true,
                        ..RemoveContainerOptions::default()
                    }),
                )
                .await;
            match cleared {
                Ok(())
                | Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => {}
                Err(err) => {
                    tracing::warn!(%err, container = %name, "cannot remove a leftover container");
                }
            }
            let created = self
                .docker
                .create_container(
                    Some(CreateContainerOptions {
                        name: Some(name.clone()),
                        ..CreateContainerOptions::default()
                    }),
                    self.body(launch),
                )
                .await
                .map_err(fail)?;
            self.docker
                .start_container(&created.id, None::<StartContainerOptions>)
                .await
                .map_err(fail)?;
            Ok(Handle {
                attempt: launch.attempt,
                id: created.id,
                name,
                node: self.host.clone(),
            })
        })
    }

    fn status<'a>(&'a self, handle: &'a Handle) -> BoxFuture<'a, Result<Status, ExecutorError>> {
        Box::pin(async move {
            let inspected = self
                .docker
                .inspect_container(&handle.id, None::<InspectContainerOptions>)
                .await;
            let inspected = match inspected {
                Ok(i) => i,
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => {
                    return Ok(Status::Lost(format!("container {} is gone", handle.name)));
                }
                Err(e) => {
                    return Err(ExecutorError::Status {
                        name: handle.name.clone(),
                        message: e.to_string(),
                    });
                }
            };
            let state = inspected.state.unwrap_or_default();
            Ok(match state.status {
                Some(ContainerStateStatusEnum::CREATED) => Status::Pending,
                Some(
                    ContainerStateStatusEnum::RUNNING
                    | ContainerStateStatusEnum::PAUSED
                    | ContainerStateStatusEnum::RESTARTING,
                ) => Status::Running {
                    node: self.host.clone(),
                },
                _ if state.oom_killed == Some(true) => Status::Failed {
                    reason: format!("container {} ran out of memory", handle.name),
                    uses_attempt: true,
                },
                _ => Status::Exited(state.exit_code.unwrap_or(-1)),
            })
        })
    }

    fn logs_tail<'a>(&'a self, handle: &'a Handle, max_bytes: usize) -> BoxFuture<'a, String> {
        Box::pin(async move {
            let mut stream = self.docker.logs(
                &handle.id,
                Some(LogsOptions {
                    stdout: true,
                    stderr: true,
                    tail: "40".into(),
                    ..LogsOptions::default()
                }),
            );
            let mut text = String::new();
            while let Some(Ok(chunk)) = stream.next().await {
                text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
            }
            harness_engine::session::tail(&text, max_bytes).to_owned()
        })
    }

    fn remove<'a>(&'a self, handle: &'a Handle) -> BoxFuture<'a, Result<(), ExecutorError>> {
        Box::pin(async move {
            let removed = self
                .docker
                .remove_container(
                    &handle.id,
                    Some(RemoveContainerOptions {
                        force: true,
                        v: true,
                        ..RemoveContainerOptions::default()
                    }),
                )
                .await;
            match removed {
                Ok(())
                | Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404 | 409,
                    ..
                }) => Ok(()),
                Err(e) => Err(ExecutorError::Remove {
                    name: handle.name.clone(),
                    message: e.to_string(),
                }),
            }
        })
    }

    /// The container is found by its name and must carry the attempt's label.
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
            let inspected = self
                .docker
                .inspect_container(name, None::<InspectContainerOptions>)
                .await
                .map_err(|e| fail(e.to_string()))?;
            let labelled = inspected
                .config
                .and_then(|c| c.labels)
                .and_then(|l| l.get(super::LABEL_ATTEMPT).cloned());
            if labelled != Some(attempt.to_string()) {
                return Err(fail("it is not labelled with this attempt".into()));
            }
            Ok(Handle {
                attempt,
                id: inspected.id.unwrap_or_else(|| name.to_owned()),
                name: name.to_owned(),
                node: self.host.clone(),
            })
        })
    }

    fn sweep<'a>(
        &'a self,
        labels: &'a BTreeMap<String, String>,
        keep: &'a BTreeSet<i64>,
    ) -> BoxFuture<'a, Result<usize, ExecutorError>> {
        Box::pin(async move {
            let filters = HashMap::from([(
                "label".to_owned(),
                labels.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            )]);
            let found = self
                .docker
                .list_containers(Some(ListContainersOptions {
                    all: true,
                    filters: Some(filters),
                    ..ListContainersOptions::default()
                }))
                .await
                .map_err(|e| ExecutorError::Sweep {
                    message: e.to_string(),
                })?;
            let mut removed = 0;
            for container in found {
                let attempt = container
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(super::LABEL_ATTEMPT))
                    .and_then(|a| a.parse::<i64>().ok());
                if attempt.is_some_and(|a| keep.contains(&a)) {
                    continue;
                }
                let Some(id) = container.id else { continue };
                let handle = Handle {
                    attempt: 0,
                    id: id.clone(),
                    name: id,
                    node: None,
                };
                if self.remove(&handle).await.is_ok() {
                    removed += 1;
                }
            }
            Ok(removed)
        })
    }
}
