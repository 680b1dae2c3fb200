//! Reads an attempt's Job and pod as Kubernetes reports them and says where the attempt
//! is: pending, running, done, failed, or never started. A pod that cannot be scheduled
//! or whose image cannot be pulled is "not started", so the scheduler does not count an
//! attempt for a cluster problem. How an attempt ended is the Job's condition (with the
//! pod's exit code for detail). Pure: the watch feeds it objects and a clock.

use std::time::{Duration, Instant};

use k8s_openapi::api::{
    batch::v1::Job,
    core::v1::{ContainerStatus, Pod},
};

use super::launch::Status;

/// Waiting reasons that mean the container will not start without someone fixing the
/// image, the registry credentials or the spec.
const CANNOT_START: [&str; 5] = [
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
];

/// What is known of one attempt so far.
#[derive(Debug)]
pub(crate) struct Tracker {
    unschedulable_grace: Duration,
    pod: Option<Pod>,
    job: Option<Job>,
    unschedulable_since: Option<Instant>,
    /// When the Job was seen failed while its pod did not show its exit yet.
    failed_without_detail_since: Option<Instant>,
}

/// How long a failed Job's pod may take to show why it failed (the two come on
/// separate watches) before the attempt is reported without the exit code.
const EXIT_DETAIL_GRACE: Duration = Duration::from_secs(5);

impl Tracker {
    pub fn new(unschedulable_grace: Duration) -> Self {
        Self {
            unschedulable_grace,
            pod: None,
            job: None,
            unschedulable_since: None,
            failed_without_detail_since: None,
        }
    }

    pub fn pod(&mut self, pod: Pod) {
        self.pod = Some(pod);
    }

    pub(crate) fn pod_deleted(&mut self) {
        self.pod = None;
    }

    pub fn job(&mut self, job: Job) {
        self.job = Some(job);
    }

    /// Where the attempt is at `now`.
    pub fn status(&mut self, now: Instant) -> Status {
        if let Some(done) = self
            .job
            .as_ref()
            .and_then(|job| job_final(job, self.pod.as_ref()))
            && !self.wait_for_exit_detail(&done, now)
        {
            return done;
        }
        let Some(pod) = &self.pod else {
            return Status::Pending;
        };
        // A pod that ended is still "running" until its Job says how the attempt ended:
        // the Job's condition comes on another watch, in either order, and only it
        // knows a deadline passed.
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        match phase {
            Some("Running" | "Succeeded" | "Failed") => Status::Running {
                pod: pod.metadata.name.clone().unwrap_or_default(),
                node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
            },
            _ => self.pending(now),
        }
    }

    /// Whether to hold a failure the Job reported until the pod says how it exited.
    fn wait_for_exit_detail(&mut self, done: &Status, now: Instant) -> bool {
        let pod_running = self
            .pod
            .as_ref()
            .is_some_and(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"));
        let generic =
            matches!(done, Status::Failed { reason, .. } if reason.starts_with("Job failed"));
        if !(generic && pod_running) {
            return false;
        }
        let since = *self.failed_without_detail_since.get_or_insert(now);
        now.duration_since(since) < EXIT_DETAIL_GRACE
    }

    fn pending(&mut self, now: Instant) -> Status {
        let Some(pod) = &self.pod else {
            return Status::Pending;
        };
        if let Some(reason) = cannot_start(pod) {
            return Status::NotStarted { reason };
        }
        match unschedulable(pod) {
            Some(message) => {
                let since = *self.unschedulable_since.get_or_insert(now);
                if now.duration_since(since) >= self.unschedulable_grace {
                    Status::NotStarted {
                        reason: format!("unschedulable: {message}"),
                    }
                } else {
                    Status::Pending
                }
            }
            None => {
                self.unschedulable_since = None;
                Status::Pending
            }
        }
    }

    /// When the status may change without a new event: the end of the grace for an
    /// unschedulable pod.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let unschedulable = self
            .unschedulable_since
            .map(|since| since + self.unschedulable_grace);
        let detail = self
            .failed_without_detail_since
            .map(|since| since + EXIT_DETAIL_GRACE);
        unschedulable.into_iter().chain(detail).min()
    }
}

fn job_final(job: &Job, pod: Option<&Pod>) -> Option<Status> {
    let conditions = job.status.as_ref()?.conditions.as_ref()?;
    let holds = |kind: &str| {
        conditions
            .iter()
            .find(|c| c.type_ == kind && c.status == "True")
    };
    if holds("Complete").is_some() {
        return Some(Status::Succeeded);
    }
    let failed = holds("Failed")?;
    if failed.reason.as_deref() == Some("DeadlineExceeded") {
        return Some(Status::Failed {
            reason: "the Job's deadline passed (activeDeadlineSeconds)".into(),
            exit_code: None,
        });
    }
    if let Some(reason) = pod.and_then(cannot_start) {
        return Some(Status::NotStarted { reason });
    }
    let reason = match pod {
        Some(pod) if pod_terminated(pod).is_some() => pod_failure(pod),
        _ => format!(
            "Job failed: {}",
            failed
                .message
                .clone()
                .or_else(|| failed.reason.clone())
                .unwrap_or_default()
        ),
    };
    Some(Status::Failed {
        reason,
        exit_code: pod.and_then(worker_exit_code),
    })
}

/// The worker container's non-zero exit code, once it has terminated.
fn worker_exit_code(pod: &Pod) -> Option<i32> {
    let main = pod.status.as_ref()?.container_statuses.as_deref()?;
    main.iter()
        .filter(|c| c.name == super::spec::WORKER_CONTAINER)
        .find_map(|c| Some(c.state.as_ref()?.terminated.as_ref()?.exit_code))
        // A failed Job whose worker exited 0 failed for another reason (its deadline).
        .filter(|code| *code != 0)
}

fn all_container_statuses(pod: &Pod) -> impl Iterator<Item = &ContainerStatus> {
    let status = pod.status.as_ref();
    let init = status
        .and_then(|s| s.init_container_statuses.as_deref())
        .unwrap_or_default();
    let main = status
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or_default();
    init.iter().chain(main)
}

fn cannot_start(pod: &Pod) -> Option<String> {
    all_container_statuses(pod).find_map(|c| {
        let waiting = c.state.as_ref()?.waiting.as_ref()?;
        let reason = waiting.reason.as_deref()?;
        CANNOT_START
            .contains(&reason)
            .then(|| match &waiting.message {
                Some(message) => format!("{reason} ({}): {message}", c.name),
                None => format!("{reason} ({})", c.name),
            })
    })
}

fn unschedulable(pod: &Pod) -> Option<String> {
    let conditions = pod.status.as_ref()?.conditions.as_ref()?;
    conditions
        .iter()
        .find(|c| {
            c.type_ == "PodScheduled"
                && c.status == "False"
                && c.reason.as_deref() == Some("Unschedulable")
        })
        .map(|c| c.message.clone().unwrap_or_else(|| "no node fits".into()))
}

fn pod_terminated(pod: &Pod) -> Option<String> {
    all_container_statuses(pod).find_map(|c| {
        let t = c.state.as_ref()?.terminated.as_ref()?;
        (t.exit_code != 0).then(|| {
            let mut text = format!("{} exited {}", c.name, t.exit_code);
            if let Some(reason) = &t.reason {
                text.push_str(&format!(" ({reason})"));
            }
            if let Some(message) = t.message.as_deref().filter(|m| !m.is_empty()) {
                text.push_str(&format!(": {message}"));
            }
            text
        })
    })
}

fn pod_failure(pod: &Pod) -> String {
    pod_terminated(pod)
        .or_else(|| {
            let s = pod.status.as_ref()?;
            let reason = s.reason.clone()?;
            Some(match &s.message {
                Some(m) => format!("pod {reason}: {m}"),
                None => format!("pod {reason}"),
            })
        })
        .unwrap_or_else(|| "pod failed".into())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "harness-attempt-1-abcde"},
            "spec": {"containers": [{"name": "worker"}], "nodeName": "node-a"},
            "status": status,
        }))
        .unwrap()
    }

    fn job(conditions: serde_json::Value) -> Job {
        serde_json::from_value(json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "harness-attempt-1"},
            "status": {"conditions": conditions},
        }))
        .unwrap()
    }

    fn tracker() -> Tracker {
        Tracker::new(Duration::from_secs(60))
    }

    #[test]
    fn a_running_pod_reports_its_name_and_node() {
        let mut t = tracker();
        t.pod(pod(json!({"phase": "Running"})));
        assert_eq!(
            t.status(Instant::now()),
            Status::Running {
                pod: "harness-attempt-1-abcde".into(),
                node: Some("node-a".into())
            }
        );
    }

    #[test]
    fn an_image_pull_back_off_is_not_started_with_the_kubelet_message() {
        let mut t = tracker();
        t.pod(pod(json!({"phase": "Pending", "containerStatuses": [{
            "name": "worker", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"nope:1\""}}
        }]})));
        let Status::NotStarted { reason } = t.status(Instant::now()) else {
            panic!("expected not started")
        };
        assert!(reason.starts_with("ImagePullBackOff (worker)"), "{reason}");
        assert!(reason.contains("nope:1"), "{reason}");
    }

    #[test]
    fn an_unschedulable_pod_is_pending_until_the_grace_has_passed() {
        let mut t = tracker();
        t.pod(pod(json!({"phase": "Pending", "conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/3 nodes are available: 3 Insufficient memory."
        }]})));
        let start = Instant::now();
        assert_eq!(t.status(start), Status::Pending);
        assert_eq!(t.next_deadline(), Some(start + Duration::from_secs(60)));
        let later = start + Duration::from_secs(61);
        assert_eq!(
            t.status(later),
            Status::NotStarted {
                reason: "unschedulable: 0/3 nodes are available: 3 Insufficient memory.".into()
            }
        );
    }

    #[test]
    fn a_failed_container_reports_its_exit_code_and_reason_once_the_job_failed() {
        let mut t = tracker();
        t.pod(pod(json!({"phase": "Failed", "containerStatuses": [{
            "name": "worker", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}
        }]})));
        assert!(matches!(t.status(Instant::now()), Status::Running { .. }));
        t.job(job(
            json!([{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]),
        ));
        assert_eq!(
            t.status(Instant::now()),
            Status::Failed {
                reason: "worker exited 137 (OOMKilled)".into(),
                exit_code: Some(137),
            }
        );
    }

    #[test]
    fn a_job_failure_seen_before_the_pod_exit_waits_briefly_for_the_exit_code() {
        let mut t = tracker();
        t.pod(pod(json!({"phase": "Running"})));
        t.job(job(
            json!([{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
            "message": "Job has reached the specified backoff limit"}]),
        ));
        let start = Instant::now();
        assert!(matches!(t.status(start), Status::Running { .. }));
        assert_eq!(t.next_deadline(), Some(start + EXIT_DETAIL_GRACE));
        assert_eq!(
            t.status(start + EXIT_DETAIL_GRACE),
            Status::Failed {
                reason: "Job failed: Job has reached the specified backoff limit".into(),
                exit_code: None,
            }
        );
    }

    #[test]
    fn a_job_past_its_deadline_failed_whatever_the_pod_says() {
        let mut t = tracker();
        t.pod(pod(json!({"phase": "Running"})));
        t.job(job(
            json!([{"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}]),
        ));
        assert!(
            matches!(t.status(Instant::now()), Status::Failed { reason, .. } if reason.contains("deadline"))
        );
    }

    #[test]
    fn a_complete_job_succeeded() {
        let mut t = tracker();
        t.job(job(json!([{"type": "Complete", "status": "True"}])));
        assert_eq!(t.status(Instant::now()), Status::Succeeded);
    }
}
