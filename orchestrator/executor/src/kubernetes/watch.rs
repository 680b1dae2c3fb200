//! Follows one attempt's Job and pod through kube's watcher, which lists, then watches
//! from the list's resourceVersion and, when a watch ends or breaks, watches again from
//! the last version it saw (relisting on `410 Gone`). Each change of the derived status
//! is yielded once; the stream ends after a final status.

use std::time::Instant;

use futures_util::{
    StreamExt,
    stream::{self, BoxStream},
};
use k8s_openapi::api::{batch::v1::Job, core::v1::Pod};
use kube::{
    Api,
    runtime::{WatchStreamExt, watcher},
};

use super::{
    KubeError,
    launch::{Launched, Status},
    settings::KubernetesSettings,
    spec,
    status::Tracker,
};

/// Watch failures in a row (each after kube's backoff) before the watch gives up.
const MAX_FAILURES: u32 = 8;

enum Seen {
    Pod(Box<watcher::Event<Pod>>),
    Job(Box<watcher::Event<Job>>),
    Failed(watcher::Error),
}

struct State {
    events: BoxStream<'static, Seen>,
    tracker: Tracker,
    last: Option<Status>,
    failures: u32,
    done: bool,
}

pub fn statuses(
    pods: Api<Pod>,
    jobs: Api<Job>,
    settings: &KubernetesSettings,
    launched: &Launched,
) -> BoxStream<'static, Result<Status, KubeError>> {
    let pod_config =
        watcher::Config::default().labels(&spec::attempt_selector(settings, &launched.attempt));
    let job_config = watcher::Config::default().fields(&format!("metadata.name={}", launched.name));
    let pods = watcher(pods, pod_config)
        .default_backoff()
        .map(|r| r.map_or_else(Seen::Failed, |e| Seen::Pod(Box::new(e))));
    let jobs = watcher(jobs, job_config)
        .default_backoff()
        .map(|r| r.map_or_else(Seen::Failed, |e| Seen::Job(Box::new(e))));
    let state = State {
        events: stream::select(pods, jobs).boxed(),
        tracker: Tracker::new(settings.unschedulable_grace_secs),
        last: None,
        failures: 0,
        done: false,
    };
    stream::unfold(state, next).boxed()
}

async fn next(mut state: State) -> Option<(Result<Status, KubeError>, State)> {
    if state.done {
        return None;
    }
    loop {
        let seen = match state.tracker.next_deadline() {
            Some(deadline) => tokio::select! {
                seen = state.events.next() => Some(seen?),
                () = tokio::time::sleep_until(deadline.into()) => None,
            },
            None => Some(state.events.next().await?),
        };
        match seen {
            Some(Seen::Failed(source)) => {
                state.failures += 1;
                tracing::debug!(error = %source, failures = state.failures, "attempt watch broke; resuming");
                if state.failures >= MAX_FAILURES {
                    state.done = true;
                    let attempts = state.failures;
                    return Some((Err(KubeError::Watch { attempts, source }), state));
                }
                continue;
            }
            Some(Seen::Pod(event)) => {
                state.failures = 0;
                observe_pod(&mut state.tracker, *event);
            }
            Some(Seen::Job(event)) => {
                state.failures = 0;
                if let Some(gone) = observe_job(&mut state.tracker, *event) {
                    state.done = true;
                    return Some((Ok(gone), state));
                }
            }
            None => {}
        }
        let status = state.tracker.status(Instant::now());
        if state.last.as_ref() != Some(&status) {
            state.done = status.is_final();
            state.last = Some(status.clone());
            return Some((Ok(status), state));
        }
    }
}

fn observe_pod(tracker: &mut Tracker, event: watcher::Event<Pod>) {
    match event {
        watcher::Event::Apply(pod) | watcher::Event::InitApply(pod) => tracker.pod(pod),
        watcher::Event::Delete(_) => tracker.pod_deleted(),
        watcher::Event::Init | watcher::Event::InitDone => {}
    }
}

/// A Job deleted under a running attempt ends it: nothing will run it any more.
fn observe_job(tracker: &mut Tracker, event: watcher::Event<Job>) -> Option<Status> {
    match event {
        watcher::Event::Apply(job) | watcher::Event::InitApply(job) => {
            tracker.job(job);
            None
        }
        watcher::Event::Delete(_) => Some(Status::Failed {
            reason: "the Job was deleted outside the harness".into(),
            exit_code: None,
        }),
        watcher::Event::Init | watcher::Event::InitDone => None,
    }
}
