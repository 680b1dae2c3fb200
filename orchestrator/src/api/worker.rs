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
use crate::worker::{
    Grant, Grants,
    protocol::{self, Ack, Assignment, EventBatch, MAX_BATCH, WorkerResult},
};

pub fn router(grants: Grants) -> Router {
    Router::new()
        .route(protocol::ASSIGNMENT, get(assignment))
        .route(protocol::EVENTS, post(events))
        .route(protocol::RESULT, post(result))
        .merge(super::git_http::router(grants.clone()))
        .with_state(grants)
}

/// The credential from `Authorization: Bearer …` or, for git, Basic with it as password.
pub(crate) fn credential(headers: &HeaderMap) -> Option<String> {
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

pub(crate) fn authorize(grants: &Grants, headers: &HeaderMap) -> Result<Arc<Grant>, ApiError> {
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
    grant.finish(result);
    Ok(Json(Ack {
        next_seq,
        cancelled: grant.cancel.is_cancelled(),
    }))
}
