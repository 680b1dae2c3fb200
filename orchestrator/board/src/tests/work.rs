//! What the scheduler and its attempts do (board/work.rs).

use harness_domain::{
    session::{SessionId, SessionStatus},
    task::Outcome,
    time::Timestamp,
};
use serde_json::{Value, json};

use super::Fixture;
use crate::Actor;
use harness_store::{CrashRecovery, Failure, SessionEnd};

#[tokio::test]
async fn claim_requeue_and_retry_publish_each_committed_state() {
    let mut f = Fixture::new();
    let task = f.task("work").await;
    let agent = f.agent();
    let (_, session) = f.board.claim(task.id, &agent).await.unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["task.updated", "session.created"]);
    assert_eq!(frames[0]["data"], f.stored_task(task.id));
    assert_eq!(frames[1]["data"]["id"], session.id.get());

    let later = Timestamp::now().plus(chrono::TimeDelta::minutes(5));
    let end = ended(session.id, SessionStatus::Interrupted, "rate limited");
    f.board
        .requeue(task.id, "rate limited", Some(later), Actor::SCHEDULER, end)
        .await
        .unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["task.updated", "session.updated"]);
    assert_eq!(frames[0]["data"]["status"], "pending");
    assert_eq!(frames[0]["data"], f.stored_task(task.id));
    assert_eq!(frames[1]["data"]["status"], "interrupted");
    assert_eq!(frames[1]["data"]["exit_reason"], "rate limited");
    assert_eq!(frames[1]["data"], f.stored_session(session.id));

    f.board.retry_now(task.id, Actor::API).await.unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["task.updated"]);
    assert_eq!(frames[0]["data"]["retry_at"], Value::Null);
    assert_eq!(frames[0]["data"], f.stored_task(task.id));
}

#[tokio::test]
async fn verifying_and_complete_publish_the_task_its_events_and_the_ended_session() {
    let mut f = Fixture::new();
    let task = f.task("finish").await;
    let (_, session) = f.board.claim(task.id, &f.agent()).await.unwrap();
    f.published();
    f.board.enter_verifying(task.id).await.unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["task.updated", "event.created"]);
    assert_eq!(frames[0]["data"]["status"], "verifying");
    let reason = "verified and merged as abc123";
    let end = SessionEnd {
        id: session.id,
        status: SessionStatus::Succeeded,
        reason: reason.into(),
    };
    f.board
        .complete_attempt(task.id, Outcome::NoChanges, reason.to_owned(), Some(end))
        .await
        .unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["task.updated", "event.created", "session.updated"]);
    assert_eq!(frames[0]["data"], f.stored_task(task.id));
    assert_eq!(frames[0]["data"]["status"], "completed");
    f.assert_event_stored(&frames[1], "task.status_changed");
    assert_eq!(frames[2]["data"]["status"], "succeeded");
    assert_eq!(frames[2]["data"]["exit_reason"], reason);
    assert_eq!(frames[2]["data"], f.stored_session(session.id));
}

#[tokio::test]
async fn a_session_a_user_already_ended_keeps_why_it_ended_when_its_task_settles() {
    let mut f = Fixture::new();
    let (task, session) = f.claimed("stopped").await;
    f.board
        .finish_session(
            session.id,
            SessionStatus::Cancelled,
            "stopped by hand".into(),
        )
        .await
        .unwrap();
    f.published();
    let end = ended(session.id, SessionStatus::Interrupted, "rate limited");
    f.board
        .requeue(task.id, "rate limited", None, Actor::SCHEDULER, end)
        .await
        .unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["task.updated", "session.updated"]);
    assert_eq!(frames[0]["data"]["status"], "pending");
    assert_eq!(frames[1]["data"]["status"], "cancelled");
    assert_eq!(frames[1]["data"]["exit_reason"], "stopped by hand");
}

fn ended(id: SessionId, status: SessionStatus, reason: &str) -> Option<SessionEnd> {
    Some(SessionEnd {
        id,
        status,
        reason: reason.into(),
    })
}

#[tokio::test]
async fn settle_failure_publishes_the_task_and_the_failed_event_from_one_commit() {
    let mut f = Fixture::new();
    let task = f.task("fail").await;
    let (_, session) = f.board.claim(task.id, &f.agent()).await.unwrap();
    f.published();
    let failure = Failure {
        reason: "tests failed".into(),
        summary: "1 failed".into(),
        retry_at: Some(Timestamp::now().plus(chrono::TimeDelta::minutes(1))),
        investigate: false,
    };
    let end = ended(session.id, SessionStatus::Failed, "tests failed");
    f.board
        .settle_failure(task.id, failure, end, Actor::SCHEDULER)
        .await
        .unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["task.updated", "event.created", "session.updated"]);
    assert_eq!(frames[0]["data"]["last_failure"], "1 failed");
    assert_eq!(frames[0]["data"], f.stored_task(task.id));
    f.assert_event_stored(&frames[1], "task.failed");
    assert_eq!(frames[1]["data"]["session_id"], session.id.get());
    assert_eq!(frames[2]["data"]["status"], "failed");
    assert_eq!(frames[2]["data"], f.stored_session(session.id));
}

#[tokio::test]
async fn a_question_and_its_answer_publish_the_task_and_their_events() {
    let mut f = Fixture::new();
    let task = f.task("ask").await;
    let (_, session) = f.board.claim(task.id, &f.agent()).await.unwrap();
    f.published();
    f.board
        .ask_question(task.id, session.id, "which colour?".into(), None)
        .await
        .unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["task.updated", "event.created"]);
    assert_eq!(frames[0]["data"]["question"], "which colour?");
    assert_eq!(frames[0]["data"], f.stored_task(task.id));
    f.assert_event_stored(&frames[1], "task.question");

    f.board
        .answer_question(task.id, "green".into(), Actor::API)
        .await
        .unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["task.updated", "event.created"]);
    assert_eq!(frames[0]["data"]["answer"], "green");
    assert_eq!(frames[0]["data"], f.stored_task(task.id));
    f.assert_event_stored(&frames[1], "task.answered");

    // The answer stays until an attempt that resumed with it ends with a result: an
    // attempt lost on the way (requeued) leaves it for the next one.
    let waiting_for_answer = "waiting for a human answer";
    f.board
        .requeue(task.id, waiting_for_answer, None, Actor::SCHEDULER, None)
        .await
        .unwrap();
    f.board.claim(task.id, &f.agent()).await.unwrap();
    f.board
        .requeue(task.id, "rate limited", None, Actor::SCHEDULER, None)
        .await
        .unwrap();
    let waiting = f.board.waiting_answer(task.id).await.unwrap().unwrap();
    assert_eq!(
        (waiting.question.as_str(), waiting.answer.as_str()),
        ("which colour?", "green")
    );
    let (_, resumed) = f.board.claim(task.id, &f.agent()).await.unwrap();
    f.board.enter_verifying(task.id).await.unwrap();
    let end = ended(resumed.id, SessionStatus::Succeeded, "merged");
    f.board
        .complete_attempt(task.id, Outcome::NoChanges, "merged".into(), end)
        .await
        .unwrap();
    assert!(f.board.waiting_answer(task.id).await.unwrap().is_none());
    assert_eq!(f.stored_task(task.id)["question"], Value::Null);
}

#[tokio::test]
async fn record_blocked_publishes_the_diagnosed_task_and_the_blocked_event() {
    let mut f = Fixture::new();
    let task = f.task("stuck").await;
    f.board
        .record_blocked(&task, Some("ROOT CAUSE: none".into()))
        .await
        .unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["task.updated", "event.created"]);
    assert_eq!(frames[0]["data"]["diagnosis"], "ROOT CAUSE: none");
    assert_eq!(frames[0]["data"], f.stored_task(task.id));
    f.assert_event_stored(&frames[1], "task.blocked");
}

/// Where a session runs and what it works on: each record is one `session.updated`
/// carrying the session as stored.
#[tokio::test]
async fn session_records_of_an_attempt_are_published_as_stored() {
    let mut f = Fixture::new();
    let (_, session) = f.claimed("remote").await;
    let id = session.id;

    // `None` keeps what was recorded: the node arrives after the name.
    for (name, node, expected) in [
        (Some("worker-1"), None, json!(["docker", "worker-1", null])),
        (
            None,
            Some("node-a"),
            json!(["docker", "worker-1", "node-a"]),
        ),
    ] {
        f.board
            .record_executor(id, "docker", name.map(Into::into), node.map(Into::into))
            .await
            .unwrap();
        let s = f.one_session_update(id);
        assert_eq!(
            json!([s["executor"], s["executor_name"], s["executor_node"]]),
            expected
        );
    }

    f.board
        .record_branch(id, "harness/T-1".into())
        .await
        .unwrap();
    assert_eq!(f.one_session_update(id)["branch"], "harness/T-1");

    f.board.record_landing(id, "merge").await.unwrap();
    assert_eq!(f.one_session_update(id)["landing"], "merge");

    f.board
        .record_investigation_worktree(id, "/tmp/investigate".into())
        .await
        .unwrap();
    // The worktree is not served; the branch recorded before is kept.
    assert_eq!(f.one_session_update(id)["branch"], "harness/T-1");
}

/// A helper role's session and an investigation are new sessions: `session.created`.
#[tokio::test]
async fn helper_and_investigation_sessions_are_published_as_created() {
    let mut f = Fixture::new();
    let task = f.task("inspect").await;
    let agent = f.agent();
    let helper = f
        .board
        .start_helper_session(task.id, &agent, "estimate")
        .await
        .unwrap();
    let s = f.one_new_session();
    assert_eq!(
        (&s["id"], &s["purpose"]),
        (&helper.id.get().into(), &"estimate".into())
    );
    let investigation = f.board.start_investigation(task.id, &agent).await.unwrap();
    let s = f.one_new_session();
    assert_eq!(
        (&s["id"], &s["purpose"], &s["status"]),
        (
            &investigation.id.get().into(),
            &"investigation".into(),
            &"running".into()
        )
    );
}

#[tokio::test]
async fn crash_recovery_publishes_the_requeued_then_the_blocked_task() {
    let mut f = Fixture::new();
    let (task, session) = f.claimed("interrupted twice").await;
    let end = ended(session.id, SessionStatus::Interrupted, "worker lost");
    let recovered = f
        .board
        .recover_after_crash(task.id, 2, Actor::STARTUP, "crashed".into(), end)
        .await
        .unwrap();
    assert!(matches!(recovered, CrashRecovery::Requeued(_)));
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["task.updated", "session.updated"]);
    assert_eq!(frames[0]["data"]["status"], "pending");
    assert_eq!(frames[0]["data"], f.stored_task(task.id));
    assert_eq!(frames[1]["data"]["status"], "interrupted");
    assert_eq!(frames[1]["data"], f.stored_session(session.id));

    f.board.claim(task.id, &f.agent()).await.unwrap();
    f.published();
    let recovered = f
        .board
        .recover_after_crash(task.id, 2, Actor::STARTUP, "crashed".into(), None)
        .await
        .unwrap();
    assert!(matches!(recovered, CrashRecovery::Blocked(_)));
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["task.updated", "event.created"]);
    assert_eq!(frames[0]["data"]["status"], "blocked");
    assert_eq!(frames[0]["data"], f.stored_task(task.id));
    f.assert_event_stored(&frames[1], "task.blocked");

    // A task that is not running is left as it is, and nothing is announced.
    let recovered = f
        .board
        .recover_after_crash(task.id, 2, Actor::STARTUP, "crashed".into(), None)
        .await
        .unwrap();
    assert!(matches!(recovered, CrashRecovery::Unchanged(_)));
    assert!(f.published().is_empty());
}

/// Methods whose change is an operations event of its own publish that event, stored.
#[tokio::test]
async fn a_waiting_investigation_and_a_spend_stop_publish_their_stored_events() {
    let mut f = Fixture::new();
    let (task, session) = f.claimed("expensive").await;
    f.board
        .record_investigation_waiting(&task, "the orchestrator is paused")
        .await;
    let event = f.one_event("investigation.waiting");
    assert_eq!(
        (&event["task_id"], &event["payload"]["reason"]),
        (&task.id.get().into(), &"the orchestrator is paused".into())
    );
    f.board
        .record_spend_stop(task.id, session.id, "over the session cap".into())
        .await;
    let event = f.one_event("session.stopped");
    assert_eq!(
        (&event["session_id"], &event["message"]),
        (&session.id.get().into(), &"over the session cap".into())
    );
}
