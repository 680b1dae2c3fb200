//! The worker API (`/worker/v1/*`): one remote attempt's assignment, its events and its
//! result, each request authorized by that attempt's credential (see `worker/`). Not
//! behind the browser guard or the API token: a worker holds neither, only its credential.

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::State,
    http::HeaderMap,
    routing::{get, post},
};

use super::{error::ApiError, extract::JsonBody};
use harness_worker::{
    Grant, Grants,
    grants::Handover,
    protocol::{
        self, Ack, Assignment, CreateTask, EventBatch, MAX_BATCH, SubtaskAnswer, WorkerResult,
    },
};

/// The handlers reach the grants only: an attempt's `create_task` goes to the creator
/// its grant holds, made by the scheduler as a local attempt's is.
pub fn router(grants: Grants) -> Router {
    let git = super::git_http::router().with_state(grants.clone());
    Router::new()
        .route(protocol::ASSIGNMENT, get(assignment))
        .route(protocol::EVENTS, post(events))
        .route(protocol::RESULT, post(result))
        .route(protocol::TASKS, post(create_task))
        .with_state(grants)
        .merge(git)
}

/// The credential from `Authorization: Bearer …` or, for git, Basic with it as password.
pub fn credential(headers: &HeaderMap) -> Option<String> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    if let Some(token) = value.strip_prefix("Bearer ") {
        return Some(token.trim().to_owned());
    }
    let basic = value.strip_prefix("Basic ")?;
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(basic.trim())
        .ok()?;
    let decoded = String::from_utf8(bytes).ok()?;
    let (_, password) = decoded.split_once(':')?;
    Some(password.to_owned())
}

pub fn authorize(grants: &Grants, headers: &HeaderMap) -> Result<Arc<Grant>, ApiError> {
    grants
        .authorize(credential(headers).as_deref())
        .map_err(|err| {
            tracing::info!(%err, "worker credential refused");
            ApiError::Unauthorized
        })
}

async fn assignment(
    State(grants): State<Grants>,
    headers: HeaderMap,
) -> Result<Json<Assignment>, ApiError> {
    let grant = authorize(&grants, &headers)?;
    Ok(Json(grant.assignment.clone()))
}

async fn events(
    State(grants): State<Grants>,
    headers: HeaderMap,
    JsonBody(batch): JsonBody<EventBatch>,
) -> Result<Json<Ack>, ApiError> {
    let grant = authorize(&grants, &headers)?;
    if batch.events.len() > MAX_BATCH {
        return Err(ApiError::invalid(
            "events",
            format!("at most {MAX_BATCH} events per batch"),
        ));
    }
    let next_seq = match grant.accept(batch.first_seq, batch.events).await {
        Ok(next) | Err(next) => next,
    };
    Ok(Json(Ack {
        next_seq,
        cancelled: grant.cancel.is_cancelled(),
    }))
}

async fn result(
    State(grants): State<Grants>,
    headers: HeaderMap,
    JsonBody(result): JsonBody<WorkerResult>,
) -> Result<Json<Ack>, ApiError> {
    let grant = authorize(&grants, &headers)?;
    let next_seq = grant
        .settle_seq(result.next_seq)
        .await
        .map_err(|next_seq| {
            ApiError::Conflict(format!(
                "events up to {} are not all stored (next is {next_seq}): send them first",
                result.next_seq
            ))
        })?;
    if grant.finish(result) == Handover::NobodyListening {
        return Err(ApiError::Stopping);
    }
    Ok(Json(Ack {
        next_seq,
        cancelled: grant.cancel.is_cancelled(),
    }))
}

/// A planning agent's `create_task` from its worker: checked again with the domain's
/// types (the worker is not trusted), then created exactly as a local agent's is.
async fn create_task(
    State(grants): State<Grants>,
    headers: HeaderMap,
    JsonBody(args): JsonBody<CreateTask>,
) -> Result<Json<SubtaskAnswer>, ApiError> {
    let grant = authorize(&grants, &headers)?;
    let creator = grant
        .subtasks()
        .filter(|_| grant.assignment.creates_tasks())
        .ok_or_else(|| ApiError::Forbidden("this attempt's role has no create_task tool".into()))?;
    if grant.cancel.is_cancelled() {
        return Err(ApiError::Conflict("the attempt was cancelled".into()));
    }
    let new = args.validate()?;
    Ok(Json(match creator.create(new).await {
        Ok(display_id) => SubtaskAnswer::Created { display_id },
        Err(err) => SubtaskAnswer::Refused {
            reason: err.to_string(),
        },
    }))
}
