//! The JSON error body every HTTP error of the harness has, the API's and the gateway's
//! guards' alike: `{"error":{"code":…,"message":…,"field":…}}`.

use serde::Serialize;
use utoipa::ToSchema;

/// The error body: `{"error":{"code":…,"message":…,"field":…}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, such as `validation_failed`.
    pub code: &'static str,
    pub message: String,
    /// The request field at fault, when there is one.
    pub field: Option<String>,
}
