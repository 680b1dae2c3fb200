//! `land = "pull_request"`: verified work waiting in `review` is pushed to the forge
//! and opened as a pull request, which this follower watches until it is merged (the
//! task completes with the merge commit) or closed (the task is blocked). Failing
//! checks and change requests become follow-up attempts on the same branch, each
//! pushed to the same pull request, up to `HARNESS_PR_FIX_ROUNDS`.
//!
//! One loop, woken every `HARNESS_PR_POLL_SECS`, by a task entering review, or by the
//! forge's webhook. A rate limit pauses the whole loop for as long as the forge says.
//! The attempt itself never talks to the forge: it stops at review, as for a person's
//! review, so a forge that is down loses nothing and the verified branch stays.

use std::{collections::HashMap, sync::Arc, time::Duration};

use base64::Engine as _;
use harness_config::PullRequestSettings;
use harness_domain::{
    event::{NewEvent, Operation, Severity},
    review::{LandPolicy, PullLink},
    task::{Outcome, Task, TaskId, TaskStatus},
    time::Timestamp,
};
use harness_engine::git::Repo;
use harness_forge::{Checks, Feedback, Forge, ForgeError, NewPull, Pull, PullState};
use tokio_util::sync::CancellationToken;

use super::{Engine, attempt::workspace_and_base};

/// The least time between two passes when wakes come faster.
const MIN_PASS_SPACING: Duration = Duration::from_secs(1);
/// Tasks in review looked at per pass; the rest wait for the next one.
const MAX_PER_PASS: u32 = 200;
/// Bytes of a verification summary or a failing check put in a description or prompt.
const OUTPUT_BYTES: usize = 4 * 1024;

/// Follows the pull requests of tasks in review until `stop`. Returns at once when no
/// forge is set up.
pub async fn follow(engine: Arc<Engine>, stop: CancellationToken) {
    let Some(settings) = engine.settings.pull_requests.clone() else {
        return;
    };
    let forge = match Forge::new(&settings.forge) {
        Ok(forge) => forge,
        Err(err) => {
            tracing::warn!(%err, "pull requests are off: the forge client cannot be built");
            return;
        }
    };
    tracing::info!(
        forge = %settings.forge.kind,
        repo = settings.forge.repo.as_str(),
        "following pull requests"
    );
    let mut follower = Follower {
        engine,
        settings,
        forge,
        problems: HashMap::new(),
    };
    let board = follower.engine.board.clone();
    // Wakes closer together than this share one pass: a burst of webhook deliveries
    // costs one look at the forge.
    let spacing = follower.settings.poll.min(MIN_PASS_SPACING);
    let mut pause = Duration::ZERO;
    let mut rate_limited = false;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            // A rate limit is waited out whatever wakes the follower meanwhile.
            () = board.runs().forge_woken(), if !rate_limited => {}
            () = tokio::time::sleep(pause) => {}
        }
        let retry_after = follower.pass().await;
        rate_limited = retry_after.is_some();
        pause = retry_after
            .map_or(follower.settings.poll, |r| r.max(follower.settings.poll))
            .saturating_sub(spacing);
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(spacing) => {}
        }
    }
}

struct Follower {
    engine: Arc<Engine>,
    settings: PullRequestSettings,
    forge: Forge,
    /// The last problem said per task, so each is said once, not every pass.
    problems: HashMap<TaskId, String>,
}

/// What a look at one pull request came to.
enum Verdict {
    Waiting,
    Merged(String),
    Closed,
    FixRound {
        text: String,
        reason: String,
        /// The newest change request in it, if any.
        seen: Option<Timestamp>,
    },
    MergeNow,
}

impl Follower {
    /// One look at every task in review that lands by pull request. `Some` when the
    /// forge's rate limit says to wait that long.
    async fn pass(&mut self) -> Option<Duration> {
        let tasks = self.tasks().await;
        self.problems
            .retain(|id, _| tasks.iter().any(|t| t.id == *id));
        for task in tasks {
            match self.step(&task).await {
                Ok(()) => {
                    self.problems.remove(&task.id);
                }
                Err(ForgeError::RateLimited { retry_after }) => {
                    self.problem(
                        &task,
                        &format!(
                            "the forge's rate limit is reached; waiting {}s",
                            retry_after.as_secs()
                        ),
                    )
                    .await;
                    return Some(retry_after);
                }
                Err(err) => self.problem(&task, &err.to_string()).await,
            }
        }
        None
    }

    /// Tasks in review whose landing policy is `pull_request`.
    async fn tasks(&self) -> Vec<Task> {
        let filter = harness_store::TaskFilter {
            status: Some(TaskStatus::Review),
            limit: MAX_PER_PASS,
            ..harness_store::TaskFilter::default()
        };
        let registry = &self.engine.settings.roles.registry;
        match self.engine.board.list_tasks(filter).await {
            Ok(page) => page
                .items
                .into_iter()
                .filter(|t| {
                    let role = registry.get(registry.route(&t.category).as_str());
                    let policy = t.land.or(role.map(|r| r.land)).unwrap_or_default();
                    policy == LandPolicy::PullRequest
                })
                .collect(),
            Err(err) => {
                tracing::warn!(%err, "cannot list the tasks in review");
                Vec::new()
            }
        }
    }

    async fn step(&mut self, task: &Task) -> Result<(), ForgeError> {
        let Some(Outcome::InReview { commit, branch }) = &task.outcome else {
            return Ok(());
        };
        let mut link = match &task.pull_request {
            Some(link) if link.commit == *commit => link.clone(),
            // New verified work (the first, or a fix round's): push it, and open the
            // pull request the first time.
            other => return self.publish(task, commit, branch, other.clone()).await,
        };
        // Read without trouble this time: a problem said before is over.
        link.problem = None;
        let pull = self.forge.pull(link.number).await?;
        match self.verdict(&pull, &mut link).await? {
            Verdict::Waiting if task.pull_request.as_ref() != Some(&link) => {
                let saved = self
                    .engine
                    .board
                    .set_pull_request(task.id, link, None)
                    .await;
                self.settle(saved);
                Ok(())
            }
            Verdict::Waiting => Ok(()),
            Verdict::Merged(merge) => self.merged(task, merge).await,
            Verdict::Closed => {
                let reason = format!(
                    "pull request #{} was closed without merging; the work stays on {branch}",
                    link.number
                );
                self.settle(self.engine.board.pull_blocked(task.id, reason).await);
                Ok(())
            }
            Verdict::FixRound { text, reason, seen } => {
                let mut link = link;
                link.feedback_seen = seen.or(link.feedback_seen);
                self.fix_round(task, link, text, reason).await;
                Ok(())
            }
            Verdict::MergeNow => {
                let merge = self.forge.merge(link.number, &link.commit).await?;
                self.merged(task, merge).await
            }
        }
    }

    /// What the pull request's state, checks and reviews call for.
    /// Records on `link` what its checks and approvals are now, for the dashboard.
    async fn verdict(&self, pull: &Pull, link: &mut PullLink) -> Result<Verdict, ForgeError> {
        match &pull.state {
            PullState::Merged { commit } => return Ok(Verdict::Merged(commit.clone())),
            PullState::Closed => return Ok(Verdict::Closed),
            PullState::Open => {}
        }
        let checks = self.forge.checks(link.number, &link.commit).await?;
        let feedback = self
            .forge
            .feedback(link.number, feedback_since(link))
            .await?;
        link.checks = Some(checks_summary(&checks));
        link.approvals = feedback.approvals;
        if let Some((text, reason)) = fix_request(&checks, &feedback) {
            let seen = feedback
                .requests
                .iter()
                .map(|r| r.at)
                .max()
                .map(Timestamp::from_datetime);
            return Ok(Verdict::FixRound { text, reason, seen });
        }
        let green = matches!(checks, Checks::Passed | Checks::None);
        let approved = feedback.approvals >= self.settings.required_approvals;
        Ok(if self.settings.auto_merge && green && approved {
            Verdict::MergeNow
        } else {
            Verdict::Waiting
        })
    }

    /// Pushes the verified commit to the task's branch on the remote, and opens the pull
    /// request if there is none yet.
    async fn publish(
        &mut self,
        task: &Task,
        commit: &str,
        branch: &str,
        link: Option<PullLink>,
    ) -> Result<(), ForgeError> {
        let (repo, base) = workspace_and_base(&self.engine.settings)
            .await
            .map_err(|e| ForgeError::Unavailable(e.to_string()))?;
        self.push(&repo, branch).await?;
        let now = Timestamp::now();
        let (link, note) = match link {
            Some(mut link) => {
                link.commit = commit.to_owned();
                link.pushed_at = now;
                link.problem = None;
                // The checks were of the commit before.
                link.checks = None;
                (link, None)
            }
            None => {
                let body = self.description(task, commit).await;
                let title = format!("{}: {}", task.display_id, task.title);
                let new = NewPull {
                    head: branch,
                    base: &base,
                    title: &title,
                    body: &body,
                };
                let pull = self.forge.open_pull(&new).await?;
                let note = NewEvent::info(
                    Operation::TaskPullRequest {
                        number: pull.number,
                        url: pull.url.clone(),
                    },
                    format!(
                        "{} is in pull request #{}: {}",
                        task.display_id, pull.number, pull.url
                    ),
                )
                .for_task(task.id);
                let link = PullLink {
                    number: pull.number,
                    url: pull.url,
                    commit: commit.to_owned(),
                    pushed_at: now,
                    fix_rounds: 0,
                    problem: None,
                    feedback_seen: None,
                    checks: None,
                    approvals: 0,
                };
                (link, Some(note))
            }
        };
        let recorded = self
            .engine
            .board
            .set_pull_request(task.id, link, note)
            .await;
        if let Err(err) = recorded {
            tracing::warn!(%err, task = %task.display_id, "cannot record the pull request");
        }
        Ok(())
    }

    /// `git push` of the branch to the remote's http(s) URL with the token.
    async fn push(&self, repo: &Repo, branch: &str) -> Result<(), ForgeError> {
        let forge = &self.settings.forge;
        let header = self.authorization();
        let (repo, remote, branch) = (repo.clone(), forge.remote.clone(), branch.to_owned());
        let host_repo = forge.repo.as_str().to_owned();
        tokio::task::spawn_blocking(move || {
            let url = repo.remote_url(&remote).map_err(|e| e.to_string())?;
            let url = https_url(&url, &host_repo);
            repo.push_branch(&url, &branch, &header)
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| ForgeError::Unavailable(e.to_string()))?
        .map_err(|e| ForgeError::Refused {
            status: 0,
            message: format!("the push was refused: {e}"),
        })
    }

    async fn merged(&self, task: &Task, commit: String) -> Result<(), ForgeError> {
        self.settle(self.engine.board.pull_merged(task.id, commit).await);
        self.sync_base().await;
        Ok(())
    }

    /// Brings the workspace's base up to the forge's after a merge, so the next
    /// attempts start from the merged work: fetched into a ref of the harness's own,
    /// then the base fast-forwarded under the merge lock (as a landing does, so a
    /// checkout with changes in the way refuses it). A base that went its own way
    /// locally is left alone, and the log says so.
    async fn sync_base(&self) {
        let Ok((repo, base)) = workspace_and_base(&self.engine.settings).await else {
            return;
        };
        let header = self.authorization();
        let (remote, host_repo) = (
            self.settings.forge.remote.clone(),
            self.settings.forge.repo.as_str().to_owned(),
        );
        let git = harness_engine::landing::LandingGit {
            timeout: self.engine.settings.reliability.git_timeout,
        };
        let _one_landing_at_a_time = self.engine.merge_lock.lock().await;
        let synced = tokio::task::spawn_blocking(move || -> Result<String, String> {
            let url = https_url(
                &repo.remote_url(&remote).map_err(|e| e.to_string())?,
                &host_repo,
            );
            let theirs = repo
                .fetch_branch(&url, &base, &header)
                .map_err(|e| e.to_string())?;
            let root = repo.root();
            let ours = git.base_head(root, &base).map_err(|e| e.to_string())?;
            if ours == theirs {
                return Ok(format!("{base} is already at {theirs}"));
            }
            if !git
                .contains(root, &ours, &theirs)
                .map_err(|e| e.to_string())?
            {
                return Err(format!(
                    "{base} has commits the forge's has not; left as it is"
                ));
            }
            git.fast_forward(root, &base, &ours, &theirs)
                .map(|()| format!("{base} fast-forwarded to the forge's {theirs}"))
                .map_err(|e| e.to_string())
        })
        .await;
        match synced {
            Ok(Ok(done)) => tracing::info!("{done}"),
            Ok(Err(why)) => {
                tracing::warn!(reason = %why, "the base was not brought up to the forge's")
            }
            Err(err) => tracing::warn!(%err, "the base was not brought up to the forge's"),
        }
    }

    /// The header git sends the token in: HTTP Basic with the forge's user name.
    fn authorization(&self) -> String {
        let forge = &self.settings.forge;
        let credentials = format!("{}:{}", forge.kind.git_user(), forge.token.expose());
        format!(
            "Authorization: Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        )
    }

    /// A follow-up attempt with the checks' and reviewers' words, or the task blocked
    /// once its fix rounds are used up.
    async fn fix_round(&self, task: &Task, mut link: PullLink, text: String, reason: String) {
        let board = &self.engine.board;
        if link.fix_rounds >= self.settings.fix_rounds {
            let why = format!(
                "pull request #{} still asks for changes after {} fix rounds (HARNESS_PR_FIX_ROUNDS): {reason}",
                link.number, link.fix_rounds
            );
            self.settle(board.pull_blocked(task.id, why).await);
            return;
        }
        link.fix_rounds += 1;
        let why = format!(
            "pull request #{}: {reason}; fix round {} of {}",
            link.number, link.fix_rounds, self.settings.fix_rounds
        );
        self.settle(board.pull_feedback(task.id, text, link, why).await);
    }

    fn settle(&self, result: Result<Task, harness_store::StoreError>) {
        if let Err(err) = result {
            tracing::warn!(%err, "cannot record what the pull request came to");
        }
    }

    /// Says once (an event, the link's `problem`) why the pull request cannot be opened
    /// or followed for now; the next pass tries again.
    async fn problem(&mut self, task: &Task, reason: &str) {
        if self.problems.get(&task.id).map(String::as_str) == Some(reason) {
            return;
        }
        self.problems.insert(task.id, reason.to_owned());
        tracing::warn!(task = %task.display_id, reason, "pull request");
        let note = NewEvent::info(
            Operation::TaskPullRequestProblem {
                reason: reason.to_owned(),
            },
            format!(
                "{}: cannot open or follow its pull request: {reason}",
                task.display_id
            ),
        )
        .with_severity(Severity::Warning)
        .for_task(task.id);
        let board = &self.engine.board;
        let recorded = match task.pull_request.clone() {
            Some(mut link) => {
                link.problem = Some(reason.to_owned());
                board
                    .set_pull_request(task.id, link, Some(note))
                    .await
                    .map(drop)
            }
            None => {
                board.note(note).await;
                Ok(())
            }
        };
        if let Err(err) = recorded {
            tracing::warn!(%err, "cannot record the pull request's problem");
        }
    }

    /// The pull request's description: the task, its pass criteria, what verification
    /// said, and what the work cost.
    async fn description(&self, task: &Task, commit: &str) -> String {
        let filter = harness_store::SessionFilter {
            task_id: Some(task.id),
            limit: 100,
            ..harness_store::SessionFilter::default()
        };
        let sessions = self
            .engine
            .board
            .list_sessions(filter)
            .await
            .map(|p| p.items)
            .unwrap_or_default();
        let cost: f64 = sessions.iter().map(|s| s.cost_usd).sum();
        let verified = sessions
            .iter()
            .find_map(|s| s.verify_output.clone())
            .unwrap_or_else(|| "(no verification commands are configured)".into());
        let mut body = format!("**{}**: {}\n\n", task.display_id, task.title);
        if !task.description.is_empty() {
            body.push_str(&task.description);
            body.push_str("\n\n");
        }
        if !task.pass_criteria.is_empty() {
            body.push_str("### Pass criteria\n\n");
            for criterion in &task.pass_criteria {
                body.push_str(&format!("- {criterion}\n"));
            }
            body.push('\n');
        }
        let verified = harness_base::text::head(&verified, OUTPUT_BYTES);
        let fence = fence_for(verified);
        body.push_str(&format!(
            "### Verification\n\nThe harness's checks passed on `{commit}`:\n\n{fence}\n{verified}\n{fence}\n\n"
        ));
        body.push_str(&format!(
            "### Cost\n\n${cost:.2} over {} session(s).\n\n_Opened by Parent Harness._\n",
            sessions.len()
        ));
        body
    }
}

/// A Markdown code fence longer than any run of backticks in `text`: what the agent's
/// checks printed cannot close it and write Markdown of its own into the description.
fn fence_for(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

/// The checks in a few words: `passed`, `pending`, `none`, or `failed: a, b`.
fn checks_summary(checks: &Checks) -> String {
    match checks {
        Checks::Passed => "passed".into(),
        Checks::Pending => "pending".into(),
        Checks::None => "none".into(),
        Checks::Failed(failed) => format!(
            "failed: {}",
            failed
                .iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Change requests after this instant are new: after the newest one already sent to
/// the agent, else from the second before the harness's first push (forges stamp to
/// the second, so a review in the same second as the push still counts).
fn feedback_since(link: &PullLink) -> chrono::DateTime<chrono::Utc> {
    match link.feedback_seen {
        Some(seen) => seen.datetime(),
        None => link.pushed_at.datetime() - chrono::TimeDelta::seconds(1),
    }
}

/// The follow-up a pull request calls for: its failing checks and the change requests
/// made since the last push, in one message, with a one-line reason.
fn fix_request(checks: &Checks, feedback: &Feedback) -> Option<(String, String)> {
    let mut text = String::new();
    let mut reasons = Vec::new();
    if let Checks::Failed(failed) = checks {
        reasons.push(format!(
            "checks failed: {}",
            failed
                .iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        text.push_str("The pull request's CI checks failed on your last push:\n");
        for check in failed {
            text.push_str(&format!(
                "\n- {}:\n```\n{}\n```\n",
                check.name,
                harness_base::text::head(&check.output, OUTPUT_BYTES)
            ));
        }
    }
    if !feedback.requests.is_empty() {
        reasons.push(format!("{} change request(s)", feedback.requests.len()));
        text.push_str("\nReviewers asked for changes:\n");
        for request in &feedback.requests {
            let place = match (&request.path, request.line) {
                (Some(path), Some(line)) => format!(" on {path}, line {line}"),
                (Some(path), None) => format!(" on {path}"),
                _ => String::new(),
            };
            text.push_str(&format!(
                "\n- {}{place}: {}\n",
                request.author, request.body
            ));
        }
    }
    if reasons.is_empty() {
        return None;
    }
    text.push_str(
        "\nYour previous work is on the branch. Fix these, then call complete_task again; the harness verifies and pushes it to the same pull request.",
    );
    Some((text, reasons.join("; ")))
}

/// The remote's URL as the harness pushes to it: an http(s) URL as it is; an SSH one
/// (`git@host:owner/name.git`, `ssh://git@host/owner/name.git`) as the same repository
/// over HTTPS, where the token authenticates.
fn https_url(remote: &str, repo: &str) -> String {
    if remote.starts_with("https://") || remote.starts_with("http://") {
        return remote.to_owned();
    }
    let host = match url::Url::parse(remote) {
        Ok(url) if url.has_host() => url.host_str().unwrap_or_default().to_owned(),
        _ => remote
            .split_once(':')
            .map(|(user_host, _)| user_host.rsplit('@').next().unwrap_or(user_host).to_owned())
            .unwrap_or_default(),
    };
    format!("https://{host}/{repo}.git")
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness_forge::{ChangeRequest, FailedCheck};

    #[test]
    fn failing_checks_and_change_requests_make_one_follow_up() {
        let checks = Checks::Failed(vec![FailedCheck {
            name: "test".into(),
            output: "1 failed".into(),
            url: None,
        }]);
        let feedback = Feedback {
            requests: vec![ChangeRequest {
                author: "rev".into(),
                body: "rename it".into(),
                path: Some("src/a.rs".into()),
                line: Some(3),
                at: chrono::Utc::now(),
            }],
            approvals: 0,
        };
        let (text, reason) = fix_request(&checks, &feedback).unwrap();
        assert!(
            text.contains("1 failed") && text.contains("rev on src/a.rs, line 3: rename it"),
            "{text}"
        );
        assert_eq!(reason, "checks failed: test; 1 change request(s)");
        assert!(fix_request(&Checks::Passed, &Feedback::default()).is_none());
        assert!(fix_request(&Checks::Pending, &Feedback::default()).is_none());
    }

    #[test]
    fn verification_output_cannot_close_its_code_fence() {
        assert_eq!(fence_for("plain"), "```");
        assert_eq!(fence_for("a ``` b ```` c"), "`````");
    }

    #[test]
    fn an_ssh_remote_is_pushed_to_over_https() {
        assert_eq!(
            https_url("git@github.com:acme/w.git", "acme/w"),
            "https://github.com/acme/w.git"
        );
        assert_eq!(
            https_url("ssh://git@gitlab.example:22/acme/w.git", "acme/w"),
            "https://gitlab.example/acme/w.git"
        );
        assert_eq!(
            https_url("http://127.0.0.1:9/git/acme/w.git", "acme/w"),
            "http://127.0.0.1:9/git/acme/w.git"
        );
    }
}
