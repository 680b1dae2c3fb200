//! Which forge, where its API is, which repository, and the token: read by `config`,
//! checked here.

use std::{fmt, time::Duration};

use harness_base::Secret;
use url::Url;

use super::ForgeError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ForgeKind {
    GitHub,
    GitLab,
    /// Gitea and Forgejo (Codeberg): the same API.
    Gitea,
}

impl ForgeKind {
    pub const ALL: [ForgeKind; 3] = [Self::GitHub, Self::GitLab, Self::Gitea];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::GitHub => "github",
            Self::GitLab => "gitlab",
            Self::Gitea => "gitea",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, ForgeError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "github" => Ok(Self::GitHub),
            "gitlab" => Ok(Self::GitLab),
            "gitea" | "forgejo" => Ok(Self::Gitea),
            other => Err(ForgeError::Settings(format!(
                "unknown forge '{other}'; use github, gitlab or gitea"
            ))),
        }
    }

    /// The forge a remote's host names, when it is one of the public ones.
    pub fn of_host(host: &str) -> Option<Self> {
        match host {
            "github.com" => Some(Self::GitHub),
            "gitlab.com" => Some(Self::GitLab),
            "codeberg.org" | "gitea.com" => Some(Self::Gitea),
            _ => None,
        }
    }

    /// The API's base URL on a forge at `host` (`https://host`): GitHub Enterprise
    /// serves it under `/api/v3` (github.com at `api.github.com`), GitLab under
    /// `/api/v4`, Gitea under `/api/v1`.
    pub fn api_url(self, origin: &Url) -> String {
        let origin = origin.origin().ascii_serialization();
        match self {
            Self::GitHub if origin == "https://github.com" => "https://api.github.com".into(),
            Self::GitHub => format!("{origin}/api/v3"),
            Self::GitLab => format!("{origin}/api/v4"),
            Self::Gitea => format!("{origin}/api/v1"),
        }
    }

    /// The user name sent with the token when git pushes over HTTPS (the token is the
    /// password): what each forge documents for token authentication.
    pub fn git_user(self) -> &'static str {
        match self {
            Self::GitHub => "x-access-token",
            Self::GitLab => "oauth2",
            Self::Gitea => "harness",
        }
    }
}

impl fmt::Display for ForgeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A repository on a forge: `owner/name`, or GitLab's `group/subgroup/name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoPath(String);

impl RepoPath {
    pub fn parse(raw: &str) -> Result<Self, ForgeError> {
        let path = raw.trim().trim_matches('/').trim_end_matches(".git");
        let parts: Vec<&str> = path.split('/').collect();
        let valid = parts.len() >= 2
            && parts.iter().all(|p| {
                !p.is_empty()
                    && *p != "."
                    && *p != ".."
                    && p.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            });
        if !valid {
            return Err(ForgeError::Settings(format!(
                "'{raw}' is not a repository path on a forge (owner/name)"
            )));
        }
        Ok(Self(path.to_owned()))
    }

    /// The repository of a remote URL (`https://host/owner/name.git`,
    /// `git@host:owner/name.git`): its host and path.
    pub fn of_remote(remote: &str) -> Result<(String, Self), ForgeError> {
        let (host, path) = match Url::parse(remote) {
            Ok(url) if url.has_host() => (
                url.host_str().unwrap_or_default().to_owned(),
                url.path().to_owned(),
            ),
            _ => match remote.split_once(':') {
                // scp-like syntax: user@host:owner/name.git
                Some((user_host, path)) if !user_host.contains('/') => (
                    user_host.rsplit('@').next().unwrap_or(user_host).to_owned(),
                    path.to_owned(),
                ),
                _ => {
                    return Err(ForgeError::Settings(format!(
                        "cannot tell the forge repository from the remote URL '{remote}'; set HARNESS_FORGE_REPO"
                    )));
                }
            },
        };
        Ok((host, Self::parse(&path)?))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Everything the harness needs to work with a forge.
#[derive(Debug, Clone)]
pub struct ForgeSettings {
    pub kind: ForgeKind,
    /// The REST API's base URL, without a trailing slash.
    pub api_url: String,
    pub repo: RepoPath,
    pub token: Secret,
    /// The git remote verified branches are pushed to (`origin`).
    pub remote: String,
    /// Per request.
    pub timeout: Duration,
}
