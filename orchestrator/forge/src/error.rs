//! Why a forge did not do what the harness asked, in words a person can act on.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    /// The settings cannot work (an unknown forge, a repository path that is not one).
    #[error("{0}")]
    Settings(String),
    /// The forge refused the token (401), or its scopes (403 without a rate limit).
    #[error(
        "the forge refused the token ({status}): {message}; check HARNESS_FORGE_TOKEN and its scopes"
    )]
    Unauthorized { status: u16, message: String },
    /// 404: the repository, the pull request or the commit is not there (or the token
    /// cannot see it).
    #[error("not found on the forge: {0}")]
    NotFound(String),
    /// 409, 405, 422 and the like: the forge understood and refused.
    #[error("the forge refused ({status}): {message}")]
    Refused { status: u16, message: String },
    /// Rate limited: try again after `retry_after`.
    #[error("the forge's rate limit is reached; retrying in {}s", retry_after.as_secs())]
    RateLimited { retry_after: Duration },
    /// 5xx, a timeout, a connection refused: try again later.
    #[error("the forge is unavailable: {0}")]
    Unavailable(String),
    /// An answer the harness cannot read.
    #[error("unexpected answer from the forge: {0}")]
    Malformed(String),
}

impl ForgeError {
    /// Worth trying again later without a person doing anything.
    #[cfg(test)]
    pub(crate) fn is_transient(&self) -> bool {
        matches!(self, Self::RateLimited { .. } | Self::Unavailable(_))
    }

    /// The forge refused to open a pull request because one is already open for the
    /// branch: GitHub's 422 "A pull request already exists for …", GitLab's and Gitea's
    /// 409 "… already exists …".
    pub(crate) fn already_exists(&self) -> bool {
        matches!(self, Self::Refused { status: 409 | 422, message }
            if message.to_ascii_lowercase().contains("already exists"))
    }
}
