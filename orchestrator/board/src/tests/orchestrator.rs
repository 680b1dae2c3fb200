//! Agents, pause, budget and events (board/agents.rs, board/orchestrator.rs).

use harness_domain::{
    agent::{AgentId, AgentPatch, AgentStatus},
    event::{NewEvent, Operation},
    time::Timestamp,
};

use super::Fixture;
use crate::Actor;
use crate::budget::{BudgetLimits, BudgetReport};

#[tokio::test]
async fn agent_changes_publish_the_committed_agent() {
    let mut f = Fixture::new();
    let id = AgentId::parse("build-2").unwrap();
    let patch = AgentPatch {
        enabled: Some(false),
        ..AgentPatch::default()
    };
    f.board.update_agent(id.clone(), patch).await.unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["agent.updated", "event.created"]);
    assert_eq!(frames[0]["data"]["status"], "disabled");
    f.assert_event_stored(&frames[1], "agent.updated");

    f.board
        .set_agent_status(id.clone(), AgentStatus::Unconfigured, Some("no key".into()))
        .await
        .unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["agent.updated"]);
    let stored = serde_json::to_value(f.board.store.get_agent(&id).unwrap()).unwrap();
    assert_eq!(frames[0]["data"], stored);
}

#[tokio::test]
async fn pause_publishes_the_status_and_its_event_from_one_commit() {
    let mut f = Fixture::new();
    let started = Timestamp::now();
    f.board.set_paused(true, started, Actor::API).await.unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["orchestrator.updated", "event.created"]);
    assert_eq!(frames[0]["data"]["paused"], true);
    assert!(f.board.store.paused().unwrap());
    f.assert_event_stored(&frames[1], "orchestrator.paused");
}

#[tokio::test]
async fn a_note_is_published_after_it_is_stored() {
    let mut f = Fixture::new();
    f.board
        .note(NewEvent::info(Operation::WorktreeLeftover, "left over"))
        .await
        .unwrap();
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["event.created"]);
    f.assert_event_stored(&frames[0], "worktree.leftover");
}

/// Nothing is stored for a budget crossing: the message carries the report as computed
/// from the committed spend.
#[tokio::test]
async fn announce_budget_publishes_the_report() {
    let mut f = Fixture::new();
    let limits = BudgetLimits {
        daily_usd: Some(1.0),
        ..BudgetLimits::default()
    };
    let report = BudgetReport::new(f.board.budget_totals().await.unwrap(), limits);
    f.board.announce_budget(report.clone());
    let (kinds, frames) = f.kinds();
    assert_eq!(kinds, ["budget.updated"]);
    assert_eq!(frames[0]["data"], serde_json::to_value(&report).unwrap());
    assert_eq!(frames[0]["data"]["limits"]["daily_usd"], 1.0);
}
