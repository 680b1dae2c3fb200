//! What the kubernetes backend is asked to start and what it reports back. A local
//! mirror of the executor abstraction that lands from the `wip-worker` branch
//! (`executor::Launch` and the backend's statuses); at merge these become that module's
//! types.

use std::{fmt, time::Duration};

/// One attempt to start: what runs, with which settings and secrets.
#[derive(Clone)]
pub struct Launch {
    /// The attempt's id; names the Job and labels everything created for it.
    pub attempt: AttemptRef,
    /// Image for this attempt (the agent's or role's); `None`: the configured one.
    pub image: Option<String>,
    /// Arguments to the `harness` binary inside the container (`["worker"]`).
    pub args: Vec<String>,
    /// Environment for the worker, from the allow-list: never a secret.
    pub env: Vec<(String, String)>,
    /// Secrets the attempt needs (its credential, the model key for its runtime);
    /// they go into a Secret owned by the Job, never into the Job's spec.
    pub secret_env: Vec<(String, SecretValue)>,
    /// The Job's deadline (`activeDeadlineSeconds`), taken as given: the caller's
    /// deadline already has its slack over the session timeout.
    pub timeout: Duration,
    /// CPU and memory the attempt asks for (`executor::Limits`); a `cpu` or `memory`
    /// in the settings wins. `None`: the settings, else 2 cores and 4 GiB.
    pub limits: Option<crate::Limits>,
}

/// An attempt id in a form usable in Kubernetes names and label values.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttemptRef(String);

impl AttemptRef {
    /// Ids are numbers or lowercase DNS-safe text up to 40 characters, so
    /// `harness-attempt-<id>` stays a valid name and label value.
    pub fn parse(id: impl Into<String>) -> Option<Self> {
        let id = id.into();
        let ok = (1..=40).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !id.ends_with('-');
        ok.then_some(Self(id))
    }
}

impl AsRef<str> for AttemptRef {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AttemptRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A secret value: `Debug` hides it.
#[derive(Clone)]
pub struct SecretValue(String);

impl SecretValue {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(..)")
    }
}

impl fmt::Debug for Launch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Launch")
            .field("attempt", &self.attempt)
            .field("image", &self.image)
            .field("args", &self.args)
            .field("env", &self.env)
            .field(
                "secret_env",
                &self.secret_env.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("timeout", &self.timeout)
            .field("limits", &self.limits)
            .finish()
    }
}

/// What was created for an attempt: enough to watch, read logs from and remove it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launched {
    pub attempt: AttemptRef,
    /// Name of the Job and of its Secret.
    pub name: String,
    pub job_uid: String,
}

/// Where an attempt's container is, as the executor sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Created, waiting for a node or an image.
    Pending,
    /// Its container runs on `node` in pod `pod`.
    Running { pod: String, node: Option<String> },
    /// The worker exited 0.
    Succeeded,
    /// The worker ran and failed (non-zero exit, killed, deadline): the attempt is
    /// used up, like a crashed local one. `exit_code` is the worker container's, when
    /// its pod shows it.
    Failed {
        reason: String,
        exit_code: Option<i32>,
    },
    /// The worker never started (unschedulable, image pull error, bad config): the
    /// scheduler should not count an attempt. The Job is left for `remove`.
    NotStarted { reason: String },
}

impl Status {
    /// Whether this outcome counts as one of the task's attempts: a worker that never
    /// started (a cluster problem) does not.
    pub fn uses_attempt(&self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed { .. })
    }

    /// The last status an attempt has: the watch ends after it.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed { .. } | Self::NotStarted { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attempt_id_with_characters_kubernetes_refuses_is_rejected() {
        assert!(AttemptRef::parse("42").is_some());
        assert!(AttemptRef::parse("a1-b2").is_some());
        assert!(AttemptRef::parse("A1").is_none());
        assert!(AttemptRef::parse("a_1").is_none());
        assert!(AttemptRef::parse("").is_none());
        assert!(AttemptRef::parse("x".repeat(41)).is_none());
    }

    #[test]
    fn a_worker_that_never_started_does_not_use_an_attempt() {
        let not_started = Status::NotStarted {
            reason: "ImagePullBackOff".into(),
        };
        assert!(not_started.is_final() && !not_started.uses_attempt());
        let failed = Status::Failed {
            reason: "worker exited 1".into(),
            exit_code: Some(1),
        };
        assert!(failed.is_final() && failed.uses_attempt());
        assert!(!Status::Pending.is_final());
    }

    #[test]
    fn a_launch_debug_shows_secret_names_not_values() {
        let launch = Launch {
            attempt: AttemptRef::parse("7").unwrap(),
            image: None,
            args: vec!["worker".into()],
            env: vec![],
            secret_env: vec![("HARNESS_ATTEMPT_TOKEN".into(), SecretValue::new("s3cret"))],
            timeout: Duration::from_secs(60),
            limits: None,
        };
        let shown = format!("{launch:?}");
        assert!(shown.contains("HARNESS_ATTEMPT_TOKEN"));
        assert!(!shown.contains("s3cret"));
    }
}
