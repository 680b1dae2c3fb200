//! The API's one error type, and the one place it becomes an HTTP response.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header::RETRY_AFTER},
    response::{IntoResponse, Response},
};
use harness_domain::ValidationError;

use harness_scheduler::review::ReviewError;
use harness_store::StoreError;

/// Everything a handler can fail with.
#[derive(Debug)]
pub enum ApiError {
    /// The request could not be read at all (malformed JSON, bad query syntax).
    BadRequest {
        message: String,
        field: Option<String>,
    },
    /// The request was read but breaks a rule.
    Unprocessable {
        message: String,
        field: Option<String>,
    },
    NotFound(String),
    MethodNotAllowed(String),
    Conflict(String),
    Unauthorized,
    Forbidden(String),
    PayloadTooLarge(String),
    /// Too many attempts; the client may try again after this many seconds.
    TooManyRequests {
        retry_after_secs: u64,
    },
    /// The database cannot serve requests right now.
    Unavailable(String),
    /// Too many writes are queued: the client should retry after a short pause.
    Overloaded,
    /// The orchestrator is stopping: the client should retry (the next run answers).
    Stopping,
    /// A bug or an environment failure. Logged in full, never sent.
    Internal(String),
}

pub use harness_gateway::error_body::{ErrorBody, ErrorDetail};

impl ApiError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Unprocessable {
            message: message.into(),
            field: Some(field.to_owned()),
        }
    }

    fn parts(self) -> (StatusCode, &'static str, String, Option<String>) {
        match self {
            Self::BadRequest { message, field } => {
                (StatusCode::BAD_REQUEST, "bad_request", message, field)
            }
            Self::Unprocessable { message, field } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                message,
                field,
            ),
            Self::NotFound(what) => (StatusCode::NOT_FOUND, "not_found", what, None),
            Self::MethodNotAllowed(message) => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                message,
                None,
            ),
            Self::Conflict(message) => (StatusCode::CONFLICT, "conflict", message, None),
            Self::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a valid API token is required: send Authorization: Bearer <token> or log in"
                    .to_owned(),
                None,
            ),
            Self::Forbidden(message) => (StatusCode::FORBIDDEN, "forbidden", message, None),
            Self::PayloadTooLarge(message) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                message,
                None,
            ),
            Self::TooManyRequests { retry_after_secs } => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                format!("too many attempts; try again in {retry_after_secs} s"),
                None,
            ),
            Self::Unavailable(detail) => {
                tracing::error!(%detail, "database unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the database is not available; see the server log".to_owned(),
                    None,
                )
            }
            Self::Overloaded => (
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "too many writes are waiting for the database; retry shortly".to_owned(),
                None,
            ),
            Self::Stopping => (
                StatusCode::SERVICE_UNAVAILABLE,
                "stopping",
                "the orchestrator is stopping; retry, its next run takes this".to_owned(),
                None,
            ),
            Self::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; see the server log".to_owned(),
                    None,
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = match self {
            Self::TooManyRequests { retry_after_secs } => Some(HeaderValue::from(retry_after_secs)),
            Self::Overloaded | Self::Stopping => Some(HeaderValue::from_static(RETRY_AFTER_SECS)),
            _ => None,
        };
        let (status, code, message, field) = self.parts();
        let body = ErrorBody {
            error: ErrorDetail {
                code,
                message,
                field,
            },
        };
        let mut response = (status, Json(body)).into_response();
        if let Some(value) = retry_after {
            response.headers_mut().insert(RETRY_AFTER, value);
        }
        response
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        Self::invalid(e.field, e.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => Self::NotFound(format!("{what} not found")),
            StoreError::Conflict(message) => Self::Conflict(message),
            StoreError::IllegalTransition(t) => Self::Conflict(t.to_string()),
            StoreError::Invalid(v) => v.into(),
            StoreError::Constraint(message) => Self::Conflict(message),
            StoreError::Overloaded => Self::Overloaded,
            StoreError::Busy(_) | StoreError::Unavailable(_) | StoreError::Corrupt { .. } => {
                Self::Unavailable(e.to_string())
            }
            StoreError::CommitFailed(_)
            | StoreError::Migration(_)
            | StoreError::Database(_)
            | StoreError::Io(_) => Self::Internal(e.to_string()),
        }
    }
}

impl From<ReviewError> for ApiError {
    fn from(e: ReviewError) -> Self {
        match e {
            ReviewError::NoBranch(message) => Self::NotFound(message),
            ReviewError::Invalid(v) => v.into(),
            ReviewError::Workspace(message) => Self::Conflict(message),
            ReviewError::Git(e) => Self::Internal(format!("reading the diff: {e}")),
        }
    }
}

/// Seconds a client waits before retrying an overloaded write: a batch lasts
/// milliseconds, so one second is ample and keeps a retry storm spread out.
const RETRY_AFTER_SECS: &str = "1";

pub(crate) type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overloaded_store_is_a_503_with_retry_after() {
        let response = ApiError::from(StoreError::Overloaded).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[RETRY_AFTER], RETRY_AFTER_SECS);
    }

    #[test]
    fn a_constraint_is_a_conflict_and_a_busy_database_is_unavailable() {
        let conflict = ApiError::from(StoreError::Constraint("UNIQUE".into())).into_response();
        assert_eq!(conflict.status(), StatusCode::CONFLICT);
        let busy = ApiError::from(StoreError::Busy("locked".into())).into_response();
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(!busy.headers().contains_key(RETRY_AFTER));
    }
}
