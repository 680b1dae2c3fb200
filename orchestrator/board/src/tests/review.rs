//! Review before landing (board/review.rs).

use harness_domain::{
    review::{CommentBody, LineRange, Message, NewComment, RepoPath, ReviewAction, Side},
    session::SessionStatus,
};
use harness_store::SessionEnd;

use super::Fixture;
use crate::Actor;

fn comment(body: &str) -> NewComment {
    NewComment {
        path: RepoPath::parse("src/a.rs").unwrap(),
        lines: LineRange::parse(2, None).unwrap(),
        side: Side::New,
        body: CommentBody::parse(body).unwrap(),
        commit: "c1".into(),
        line_text: "let x = 1;".into(),
    }
}

#[tokio::test]
async fn entering_review_then_a_change_request_publish_each_committed_state() {
    let mut f = Fixture::new();
    let (task, session) = f.claimed("review me").await;
    f.board.enter_verifying(task.id).await.unwrap();
    f.published();
    let end = SessionEnd {
        id: session.id,
        status: SessionStatus::Succeeded,
        reason: "verified; waiting for review".into(),
    };
    let paused = Some("{\"conversation\":1}".to_owned());
    let reviewed = f
        .board
        .enter_review(
            task.id,
            "c1".into(),
            "harness/T-1".into(),
            paused,
            Some(end),
        )
        .await
        .unwrap();
    assert_eq!(reviewed.status.as_str(), "review");
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["task.updated", "event.created", "session.updated"]);
    assert_eq!(frames[0]["data"], f.stored_task(task.id));
    assert_eq!(frames[0]["data"]["outcome"]["kind"], "in_review");
    f.assert_event_stored(&frames[1], "task.review_requested");
    assert_eq!(frames[2]["data"]["status"], "succeeded");

    let made = f
        .board
        .create_comment(task.id, comment("rename x"), Actor::API)
        .await
        .unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["comment.changed"]);
    assert_eq!(frames[0]["data"]["id"], made.id);
    f.board
        .create_comment(task.id, comment("done already"), Actor::API)
        .await
        .unwrap();
    let resolved = f.published()[0]["data"]["id"].as_i64().unwrap();
    f.board
        .update_comment(task.id, resolved, None, Some(true))
        .await
        .unwrap();
    let frames = f.published();
    assert_eq!(frames[0]["data"]["resolved"], true);

    let message = Message::parse("Tidy it up.").unwrap();
    let back = f
        .board
        .review_task(
            task.id,
            ReviewAction::RequestChanges,
            Some(message),
            Actor::API,
        )
        .await
        .unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["task.updated", "event.created"]);
    assert_eq!(frames[0]["data"], f.stored_task(task.id));
    f.assert_event_stored(&frames[1], "task.reviewed");
    let follow_up = back.follow_up.unwrap();
    assert!(follow_up.contains("Tidy it up.") && follow_up.contains("rename x"));
    assert!(
        !follow_up.contains("done already"),
        "a resolved comment is not sent"
    );
    let waiting = f.board.waiting_follow_up(task.id).await.unwrap();
    assert_eq!(waiting.message.as_deref(), Some(follow_up.as_str()));
    assert_eq!(waiting.paused.as_deref(), Some("{\"conversation\":1}"));
    assert_eq!(waiting.approved_commit, None);

    f.board.delete_comment(task.id, made.id).await.unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["comment.deleted"]);
    assert_eq!(frames[0]["data"]["id"], made.id);
    let gone = f.board.delete_comment(task.id, made.id).await;
    assert!(gone.is_err(), "a deleted comment is not found again");
}

#[tokio::test]
async fn an_approval_is_recorded_for_the_landing_and_a_review_needs_a_task_in_review() {
    let mut f = Fixture::new();
    let (task, session) = f.claimed("approve me").await;
    let early = f
        .board
        .review_task(task.id, ReviewAction::Approve, None, Actor::API)
        .await;
    assert!(early.is_err(), "a running task cannot be reviewed");
    f.board.enter_verifying(task.id).await.unwrap();
    let end = SessionEnd {
        id: session.id,
        status: SessionStatus::Succeeded,
        reason: "verified".into(),
    };
    f.board
        .enter_review(task.id, "c9".into(), "harness/T-1".into(), None, Some(end))
        .await
        .unwrap();
    f.published();
    let approved = f
        .board
        .review_task(task.id, ReviewAction::Approve, None, Actor::API)
        .await
        .unwrap();
    assert_eq!(approved.status.as_str(), "pending");
    let waiting = f.board.waiting_follow_up(task.id).await.unwrap();
    assert_eq!(waiting.approved_commit.as_deref(), Some("c9"));
    assert_eq!(waiting.message, None);
    // Claiming the landing does not use an attempt.
    let (claimed, _) = f.board.claim(task.id, &f.agent()).await.unwrap();
    assert_eq!(
        claimed.attempts, 1,
        "the landing of an approval uses no attempt"
    );
}
