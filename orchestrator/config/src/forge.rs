//! Pull requests on a forge (`land = "pull_request"`): which forge, where its API is,
//! the repository, the token, and how the harness follows a pull request. On when
//! `HARNESS_FORGE_TOKEN` (or its `_FILE`) is set.

use std::{path::Path, time::Duration};

use clap::Args;
use harness_forge::{ForgeKind, ForgeSettings, RepoPath};
use serde::Deserialize;

use super::{ConfigError, Secret, invalid};

/// Flags and environment variables of pull requests.
#[derive(Debug, Clone, Default, Args)]
pub struct ForgeArgs {
    /// `github`, `gitlab` or `gitea` (Forgejo too) [default: from the remote's host].
    #[arg(long, env = "HARNESS_FORGE")]
    pub forge: Option<String>,
    /// The forge's REST API [default: https://api.github.com, or https://HOST/api/v4
    /// (GitLab), https://HOST/api/v1 (Gitea), https://HOST/api/v3 (GitHub Enterprise)].
    #[arg(long, env = "HARNESS_FORGE_URL")]
    pub forge_url: Option<String>,
    /// The repository on the forge, `owner/name` [default: from the remote's URL].
    #[arg(long, env = "HARNESS_FORGE_REPO")]
    pub forge_repo: Option<String>,
    /// The git remote verified branches are pushed to [default: origin].
    #[arg(long, env = "HARNESS_FORGE_REMOTE")]
    pub forge_remote: Option<String>,
    /// Fix rounds a pull request gets (failing checks, change requests) before the task
    /// is blocked [default: 3].
    #[arg(long, env = "HARNESS_PR_FIX_ROUNDS")]
    pub pr_fix_rounds: Option<u32>,
    /// Seconds between two looks at the open pull requests [default: 60].
    #[arg(long, env = "HARNESS_PR_POLL_SECS")]
    pub pr_poll_secs: Option<f64>,
    /// Merge a pull request once its checks pass and it has the approvals [default: false].
    #[arg(long, env = "HARNESS_PR_AUTO_MERGE", value_parser = clap::builder::BoolishValueParser::new())]
    pub pr_auto_merge: Option<bool>,
    /// Approvals auto-merge waits for [default: 1].
    #[arg(long, env = "HARNESS_PR_REQUIRED_APPROVALS")]
    pub pr_required_approvals: Option<u32>,
    /// File holding the forge token, instead of HARNESS_FORGE_TOKEN.
    #[arg(long, env = "HARNESS_FORGE_TOKEN_FILE")]
    pub forge_token_file: Option<std::path::PathBuf>,
    /// File holding the webhook secret, instead of HARNESS_FORGE_WEBHOOK_SECRET.
    #[arg(long, env = "HARNESS_FORGE_WEBHOOK_SECRET_FILE")]
    pub forge_webhook_secret_file: Option<std::path::PathBuf>,
    /// HARNESS_FORGE_TOKEN: from the environment only.
    #[arg(skip)]
    pub forge_token: Option<Secret>,
    /// HARNESS_FORGE_WEBHOOK_SECRET: from the environment only.
    #[arg(skip)]
    pub forge_webhook_secret: Option<Secret>,
}

/// `[forge]` in `harness.toml` (no secrets).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForgeFile {
    kind: Option<String>,
    url: Option<String>,
    repo: Option<String>,
    remote: Option<String>,
    fix_rounds: Option<u32>,
    poll_secs: Option<f64>,
    auto_merge: Option<bool>,
    required_approvals: Option<u32>,
}

/// How the harness opens and follows pull requests.
#[derive(Debug, Clone)]
pub struct PullRequestSettings {
    pub forge: ForgeSettings,
    pub fix_rounds: u32,
    pub poll: Duration,
    pub auto_merge: bool,
    pub required_approvals: u32,
    /// Deliveries to `/api/forge/webhook` must carry it (signed with it on GitHub and
    /// Gitea); `None`: the webhook is off and the harness polls.
    pub webhook_secret: Option<Secret>,
}

impl PullRequestSettings {
    /// `None` when no forge token is set. `workspace` gives the remote's URL, from which
    /// the forge, its API and the repository are told unless set.
    pub fn load(
        args: ForgeArgs,
        file: ForgeFile,
        workspace: Option<&Path>,
    ) -> Result<Option<Self>, ConfigError> {
        let Some(token) = args.forge_token else {
            return Ok(None);
        };
        let remote = args
            .forge_remote
            .or(file.remote)
            .unwrap_or_else(|| "origin".into());
        let remote_url = workspace.and_then(|w| remote_url(w, &remote));
        let from_remote = remote_url.as_deref().map(RepoPath::of_remote);
        let (host, remote_repo) = match from_remote {
            Some(Ok((host, repo))) => (Some(host), Some(repo)),
            _ => (None, None),
        };
        let kind = match args.forge.or(file.kind) {
            Some(raw) => ForgeKind::parse(&raw).map_err(|e| invalid("HARNESS_FORGE", &e.to_string()))?,
            None => host.as_deref().and_then(ForgeKind::of_host).ok_or_else(|| {
                invalid(
                    "HARNESS_FORGE",
                    &format!(
                        "set it to github, gitlab or gitea: the remote '{remote}' ({}) is not on a forge the harness knows by name",
                        remote_url.as_deref().unwrap_or("no URL")
                    ),
                )
            })?,
        };
        let repo = match args.forge_repo.or(file.repo) {
            Some(raw) => RepoPath::parse(&raw).map_err(|e| invalid("HARNESS_FORGE_REPO", &e.to_string()))?,
            None => remote_repo.ok_or_else(|| {
                invalid(
                    "HARNESS_FORGE_REPO",
                    &format!("set it (owner/name): the remote '{remote}' has no URL the harness can read it from"),
                )
            })?,
        };
        let api_url = match args.forge_url.or(file.url) {
            Some(url) => checked_url(&url)?,
            None => {
                let origin = host
                    .as_deref()
                    .and_then(|h| url::Url::parse(&format!("https://{h}")).ok())
                    .ok_or_else(|| {
                        invalid(
                            "HARNESS_FORGE_URL",
                            "set it: the remote has no host to derive the API's address from",
                        )
                    })?;
                kind.api_url(&origin)
            }
        };
        let poll = args.pr_poll_secs.or(file.poll_secs).unwrap_or(60.0);
        if !(0.05..=86_400.0).contains(&poll) {
            return Err(invalid(
                "HARNESS_PR_POLL_SECS",
                "must be between 0.05 and 86400",
            ));
        }
        let fix_rounds = args.pr_fix_rounds.or(file.fix_rounds).unwrap_or(3);
        if fix_rounds > 20 {
            return Err(invalid("HARNESS_PR_FIX_ROUNDS", "must be at most 20"));
        }
        Ok(Some(Self {
            forge: ForgeSettings {
                kind,
                api_url,
                repo,
                token,
                remote,
                timeout: Duration::from_secs(30),
            },
            fix_rounds,
            poll: Duration::from_secs_f64(poll),
            auto_merge: args.pr_auto_merge.or(file.auto_merge).unwrap_or(false),
            required_approvals: args
                .pr_required_approvals
                .or(file.required_approvals)
                .unwrap_or(1),
            webhook_secret: args.forge_webhook_secret,
        }))
    }
}

/// An http(s) URL without a trailing slash.
fn checked_url(raw: &str) -> Result<String, ConfigError> {
    match url::Url::parse(raw.trim()) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {
            Ok(raw.trim().trim_end_matches('/').to_owned())
        }
        _ => Err(invalid("HARNESS_FORGE_URL", "must be an http(s) URL")),
    }
}

/// The URL of `remote` in the workspace, read with the harness's safe git.
fn remote_url(workspace: &Path, remote: &str) -> Option<String> {
    let out = harness_engine::safe_git::run(workspace, &["remote", "get-url", remote], &[]).ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|u| !u.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_with_remote(url: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            let out = std::process::Command::new("git")
                .arg("-C")
                .arg(dir.path())
                .args(args)
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
        };
        git(&["init", "-q"]);
        git(&["remote", "add", "origin", url]);
        dir
    }

    fn with_token() -> ForgeArgs {
        ForgeArgs {
            forge_token: Some(Secret::new("t0ken")),
            ..ForgeArgs::default()
        }
    }

    #[test]
    fn no_token_no_pull_requests() {
        let loaded = PullRequestSettings::load(ForgeArgs::default(), ForgeFile::default(), None);
        assert!(loaded.unwrap().is_none());
    }

    #[test]
    fn the_forge_its_api_and_the_repository_come_from_the_remote() {
        let repo = repo_with_remote("git@github.com:acme/widgets.git");
        let s = PullRequestSettings::load(with_token(), ForgeFile::default(), Some(repo.path()))
            .unwrap()
            .unwrap();
        assert_eq!(s.forge.kind, ForgeKind::GitHub);
        assert_eq!(s.forge.api_url, "https://api.github.com");
        assert_eq!(s.forge.repo.as_str(), "acme/widgets");
        assert_eq!(
            (s.fix_rounds, s.poll.as_secs(), s.auto_merge),
            (3, 60, false)
        );

        let repo = repo_with_remote("https://gitlab.com/acme/team/widgets.git");
        let s = PullRequestSettings::load(with_token(), ForgeFile::default(), Some(repo.path()))
            .unwrap()
            .unwrap();
        assert_eq!(
            (s.forge.kind, s.forge.api_url.as_str()),
            (ForgeKind::GitLab, "https://gitlab.com/api/v4")
        );
        assert_eq!(s.forge.repo.as_str(), "acme/team/widgets");
    }

    #[test]
    fn a_self_hosted_forge_needs_its_kind_and_then_derives_its_api() {
        let repo = repo_with_remote("https://git.example.com/acme/widgets.git");
        let err = PullRequestSettings::load(with_token(), ForgeFile::default(), Some(repo.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("HARNESS_FORGE"), "{err}");
        let args = ForgeArgs {
            forge: Some("forgejo".into()),
            ..with_token()
        };
        let s = PullRequestSettings::load(args, ForgeFile::default(), Some(repo.path()))
            .unwrap()
            .unwrap();
        assert_eq!(
            (s.forge.kind, s.forge.api_url.as_str()),
            (ForgeKind::Gitea, "https://git.example.com/api/v1")
        );
        let args = ForgeArgs {
            forge: Some("github".into()),
            ..with_token()
        };
        let s = PullRequestSettings::load(args, ForgeFile::default(), Some(repo.path()))
            .unwrap()
            .unwrap();
        assert_eq!(
            s.forge.api_url, "https://git.example.com/api/v3",
            "GitHub Enterprise"
        );
    }

    #[test]
    fn bad_values_are_named() {
        for (args, name) in [
            (
                ForgeArgs {
                    forge: Some("svn".into()),
                    ..with_token()
                },
                "HARNESS_FORGE",
            ),
            (
                ForgeArgs {
                    forge_url: Some("ftp://x".into()),
                    forge: Some("gitea".into()),
                    forge_repo: Some("a/b".into()),
                    ..with_token()
                },
                "HARNESS_FORGE_URL",
            ),
            (
                ForgeArgs {
                    forge_repo: Some("../x".into()),
                    forge: Some("gitea".into()),
                    ..with_token()
                },
                "HARNESS_FORGE_REPO",
            ),
            (
                ForgeArgs {
                    pr_poll_secs: Some(0.0),
                    forge: Some("gitea".into()),
                    forge_repo: Some("a/b".into()),
                    forge_url: Some("https://x".into()),
                    ..with_token()
                },
                "HARNESS_PR_POLL_SECS",
            ),
        ] {
            let err = PullRequestSettings::load(args, ForgeFile::default(), None)
                .unwrap_err()
                .to_string();
            assert!(err.contains(name), "{name}: {err}");
        }
    }
}
