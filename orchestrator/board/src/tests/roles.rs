//! The roles' jobs and findings (board/roles.rs, board/findings.rs): each is one
//! transaction with its event, and the event is published once it is stored.

use harness_domain::{
    finding::NewFinding,
    proposal::ProposalStatus,
    role::Size,
    task::{NewTask, Title},
};

use super::Fixture;
use crate::Actor;
use harness_store::NewProposal;

#[tokio::test]
async fn an_estimate_a_rejection_and_a_finding_publish_their_stored_events() {
    let mut f = Fixture::new();
    let (task, session) = f.claimed("judged").await;

    let estimate = f
        .board
        .record_estimate(&task, Size::Large, "touches everything".into(), None)
        .await
        .unwrap();
    let event = f.one_event("task.estimated");
    assert_eq!(event["payload"]["reason"], "touches everything");
    assert_eq!(
        f.board.estimate(task.id).await.unwrap().map(|e| e.size),
        Some(estimate.size)
    );

    for expected in 1..=2 {
        let count = f
            .board
            .record_rejection(&task, Some(session.id), "misses the criteria".into())
            .await
            .unwrap();
        assert_eq!(count, expected);
        assert_eq!(
            f.one_event("validation.rejected")["payload"]["count"],
            expected
        );
    }

    let finding = NewFinding::parse("button does nothing", "clicked it", "a new user").unwrap();
    let reported = f
        .board
        .report_finding(task.id, Some(session.id), finding, None)
        .await
        .unwrap();
    let event = f.one_event("finding.reported");
    assert_eq!(
        (&event["task_id"], &event["session_id"]),
        (&task.id.get().into(), &session.id.get().into())
    );
    let stored = f.board.list_findings(task.id).await.unwrap();
    assert_eq!(
        stored.iter().map(|s| s.id).collect::<Vec<_>>(),
        [reported.id]
    );
}

/// A proposal is announced when made, accepted (with the task it creates) and rejected.
#[tokio::test]
async fn a_proposal_is_published_when_made_accepted_or_rejected() {
    let mut f = Fixture::new();
    let propose = |title: &str| NewProposal {
        task: NewTask::titled(Title::parse(title).unwrap()),
        source: "schedule".into(),
    };
    let stored = |f: &Fixture, id: i64| {
        let all = f.board.store.list_proposals(None, 50).unwrap();
        all.into_iter().find(|p| p.id == id).unwrap()
    };

    let accepted = f.board.propose_now(propose("add a cache")).unwrap();
    let event = f.one_event("proposal.created");
    assert_eq!(event["payload"]["proposal_id"], accepted.id);
    assert_eq!(stored(&f, accepted.id).status, ProposalStatus::Proposed);

    let (_, task) = f
        .board
        .accept_proposal(accepted.id, Actor::API)
        .await
        .unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["task.created", "event.created"]);
    assert_eq!(frames[0]["data"], f.stored_task(task.id));
    assert_eq!(frames[0]["data"]["title"], "add a cache");
    f.assert_event_stored(&frames[1], "proposal.accepted");
    let decided = stored(&f, accepted.id);
    assert_eq!(
        (decided.status, decided.task_id),
        (ProposalStatus::Accepted, Some(task.id))
    );

    let rejected = f.board.propose_now(propose("rewrite it all")).unwrap();
    f.one_event("proposal.created");
    f.board.reject_proposal(rejected.id).await.unwrap();
    let event = f.one_event("proposal.rejected");
    assert_eq!(event["payload"]["proposal_id"], rejected.id);
    assert_eq!(stored(&f, rejected.id).status, ProposalStatus::Rejected);
}
