//! The GitHub REST API (as GitHub Enterprise serves it under `/api/v3`): pulls,
//! check runs, the combined commit status, reviews, review comments and merge.

use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{
    CheckState, CreateError, ForgeKind, Inner, MergeError, Pull, PullState, Req, Shared, Verdict,
    error, not_found, number, page::Page, respond, time_secs,
};

const KIND: ForgeKind = ForgeKind::GitHub;

pub(super) fn route(s: &Shared, req: &Req) -> Response {
    let segs: Vec<&str> = req.segs.iter().map(String::as_str).collect();
    let Some(rest) = repo_rest(s, &segs) else {
        return not_found(KIND);
    };
    match (req.method.as_str(), rest) {
        ("POST", ["pulls"]) => create_pull(s, req),
        ("GET", ["pulls"]) => list_pulls(s, req),
        ("GET", ["pulls", n]) => with_pull(s, n, |p| respond(200, pull_json(s, p))),
        ("GET", ["pulls", n, "reviews"]) => with_pull(s, n, |p| reviews(s, req, p)),
        ("GET", ["pulls", n, "comments"]) => with_pull(s, n, |p| comments(s, req, p)),
        ("PUT", ["pulls", n, "merge"]) => merge(s, req, n),
        ("GET", ["commits", rev, "check-runs"]) => check_runs(s, req, rev),
        ("GET", ["commits", rev, "status"]) => combined_status(s, req, rev),
        _ => not_found(KIND),
    }
}

/// The segments after `repos/{owner}/{repo}`, when they name the fake's repository.
fn repo_rest<'a>(s: &Shared, segs: &'a [&'a str]) -> Option<&'a [&'a str]> {
    match segs {
        ["repos", owner, repo, rest @ ..] if format!("{owner}/{repo}") == s.owner_repo => {
            Some(rest)
        }
        _ => None,
    }
}

fn owner(s: &Shared) -> &str {
    s.owner_repo.split('/').next().unwrap_or_default()
}

fn with_pull(s: &Shared, n: &str, answer: impl FnOnce(&Pull) -> Response) -> Response {
    let pull = number(n).and_then(|n| s.lock().pull(n).cloned());
    match pull {
        Some(pull) => answer(&pull),
        None => not_found(KIND),
    }
}

fn pull_json(s: &Shared, p: &Pull) -> Value {
    let state = match p.state {
        PullState::Open => "open",
        PullState::Closed | PullState::Merged => "closed",
    };
    let owner = owner(s);
    json!({
        "id": p.id,
        "number": p.number,
        "url": format!("{}/api/v3/repos/{}/pulls/{}", s.origin, s.owner_repo, p.number),
        "html_url": format!("{}/{}/pull/{}", s.origin, s.owner_repo, p.number),
        "state": state,
        "draft": false,
        "merged": p.state == PullState::Merged,
        "merge_commit_sha": p.merge_commit,
        "title": p.title,
        "body": p.body,
        "user": { "login": super::BOT_USER },
        "head": { "ref": p.head, "sha": s.head_sha(p), "label": format!("{owner}:{}", p.head) },
        "base": { "ref": p.base, "sha": s.base_sha(p), "label": format!("{owner}:{}", p.base) },
        "created_at": time_secs(&p.created_at),
        "updated_at": time_secs(&p.created_at),
    })
}

/// 422 "Validation Failed" with one entry in `errors`.
fn validation_failed(entry: Value) -> Response {
    respond(
        422,
        json!({
            "message": "Validation Failed",
            "errors": [entry],
            "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
            "status": "422",
        }),
    )
}

fn create_pull(s: &Shared, req: &Req) -> Response {
    let (Some(title), Some(head), Some(base)) =
        (req.str("title"), req.str("head"), req.str("base"))
    else {
        return validation_failed(json!({
            "resource": "PullRequest", "code": "missing_field",
            "message": "title, head and base are required",
        }));
    };
    // `head` may be `owner:branch`; the fake hosts one repository, so only the branch counts.
    let head = head.rsplit_once(':').map_or(head, |(_, branch)| branch);
    let body = req.str("body").unwrap_or_default();
    match s.create_pull(head, base, title, body, false) {
        Ok(pull) => respond(201, pull_json(s, &pull)),
        Err(CreateError::Duplicate(_)) => validation_failed(json!({
            "resource": "PullRequest", "code": "custom",
            "message": format!("A pull request already exists for {}:{head}.", owner(s)),
        })),
        Err(CreateError::NoHead) => validation_failed(json!({
            "resource": "PullRequest", "field": "head", "code": "invalid",
            "message": format!("head {head} invalid"),
        })),
        Err(CreateError::NoBase) => validation_failed(json!({
            "resource": "PullRequest", "field": "base", "code": "invalid",
            "message": format!("base {base} invalid"),
        })),
    }
}

fn list_pulls(s: &Shared, req: &Req) -> Response {
    let state = req.q("state").unwrap_or("open");
    // `head` filters as `owner:branch`.
    let head = req
        .q("head")
        .map(|h| h.rsplit_once(':').map_or(h, |(_, b)| b));
    let pulls: Vec<Pull> = s
        .lock()
        .pulls
        .iter()
        .filter(|p| match state {
            "all" => true,
            "closed" => p.state != PullState::Open,
            _ => p.state == PullState::Open,
        })
        .filter(|p| head.is_none_or(|h| p.head == h))
        .filter(|p| req.q("base").is_none_or(|b| p.base == b))
        .cloned()
        .collect();
    // GitHub lists newest first.
    let items = pulls.iter().rev().map(|p| pull_json(s, p)).collect();
    Page::of(KIND, req, items).respond(KIND, &s.origin, req)
}

fn reviews(s: &Shared, req: &Req, p: &Pull) -> Response {
    let items = p
        .reviews
        .iter()
        .map(|r| {
            let state = match r.verdict {
                Verdict::Approved => "APPROVED",
                Verdict::ChangesRequested => "CHANGES_REQUESTED",
            };
            json!({
                "id": r.id,
                "user": { "login": r.user },
                "body": r.body,
                "state": state,
                "submitted_at": time_secs(&r.at),
                "commit_id": r.commit_id,
                "html_url": format!("{}/{}/pull/{}#pullrequestreview-{}", s.origin, s.owner_repo, p.number, r.id),
            })
        })
        .collect();
    Page::of(KIND, req, items).respond(KIND, &s.origin, req)
}

fn comments(s: &Shared, req: &Req, p: &Pull) -> Response {
    let items = p
        .reviews
        .iter()
        .flat_map(|r| r.comments.iter().map(move |c| (r, c)))
        .map(|(r, c)| {
            json!({
                "id": c.id,
                "pull_request_review_id": r.id,
                "path": c.path,
                "line": c.line,
                "original_line": c.line,
                "side": "RIGHT",
                "body": c.body,
                "user": { "login": r.user },
                "created_at": time_secs(&r.at),
                "updated_at": time_secs(&r.at),
                "commit_id": r.commit_id,
                "original_commit_id": r.commit_id,
                "html_url": format!("{}/{}/pull/{}#discussion_r{}", s.origin, s.owner_repo, p.number, c.id),
            })
        })
        .collect();
    Page::of(KIND, req, items).respond(KIND, &s.origin, req)
}

fn merge(s: &Shared, req: &Req, n: &str) -> Response {
    let Some(n) = number(n) else {
        return not_found(KIND);
    };
    if req.str("merge_method").is_some_and(|m| m != "merge") {
        return error(
            KIND,
            422,
            "The fake forge only does merge commits (merge_method merge)",
        );
    }
    match s.merge_pull(n, req.str("sha")) {
        Ok(sha) => respond(
            200,
            json!({ "sha": sha, "merged": true, "message": "Pull Request successfully merged" }),
        ),
        Err(MergeError::NotFound) => not_found(KIND),
        Err(MergeError::NotOpen | MergeError::Conflict) => {
            error(KIND, 405, "Pull Request is not mergeable")
        }
        Err(MergeError::HeadMismatch { .. }) => error(
            KIND,
            409,
            "Head branch was modified. Review and try the merge again.",
        ),
    }
}

/// The commit a `{ref}` path segment names: a sha, a branch or another ref.
fn resolve(s: &Shared, rev: &str) -> String {
    s.repo.resolve(rev).unwrap_or_else(|| rev.to_owned())
}

fn check_runs(s: &Shared, req: &Req, rev: &str) -> Response {
    let sha = resolve(s, rev);
    let runs: Vec<Value> = s
        .lock()
        .checks_for(&sha)
        .filter(|c| !c.as_status)
        .map(|c| {
            let (status, conclusion, summary, text) = match &c.state {
                CheckState::Pending => ("in_progress", None, String::new(), None),
                CheckState::Success => (
                    "completed",
                    Some("success"),
                    format!("{} passed", c.name),
                    None,
                ),
                CheckState::Failure { output } => (
                    "completed",
                    Some("failure"),
                    format!("{} failed", c.name),
                    Some(output.clone()),
                ),
            };
            json!({
                "id": c.id,
                "head_sha": c.sha,
                "name": c.name,
                "status": status,
                "conclusion": conclusion,
                "started_at": time_secs(&c.at),
                "completed_at": conclusion.map(|_| time_secs(&c.at)),
                "html_url": format!("{}/{}/runs/{}", s.origin, s.owner_repo, c.id),
                "output": { "title": summary, "summary": summary, "text": text },
            })
        })
        .collect();
    let page = Page::of(KIND, req, runs);
    let headers = page.headers(KIND, &s.origin, req);
    let body = json!({ "total_count": page.total, "check_runs": page.items });
    (headers, axum::Json(body)).into_response()
}

fn combined_status(s: &Shared, req: &Req, rev: &str) -> Response {
    let sha = resolve(s, rev);
    let inner = s.lock();
    let statuses: Vec<Value> = inner
        .checks_for(&sha)
        .filter(|c| c.as_status)
        .map(|c| {
            let (state, description) = status_of(&c.state);
            json!({
                "id": c.id,
                "context": c.name,
                "state": state,
                "description": description,
                "target_url": format!("{}/{}/status/{}", s.origin, s.owner_repo, c.id),
                "created_at": time_secs(&c.at),
                "updated_at": time_secs(&c.at),
            })
        })
        .collect();
    let state = combined_state(&inner, &sha);
    drop(inner);
    let page = Page::of(KIND, req, statuses);
    let headers = page.headers(KIND, &s.origin, req);
    let body = json!({
        "state": state,
        "sha": sha,
        "total_count": page.total,
        "statuses": page.items,
    });
    (headers, axum::Json(body)).into_response()
}

fn status_of(state: &CheckState) -> (&'static str, String) {
    match state {
        CheckState::Pending => ("pending", "In progress".to_owned()),
        CheckState::Success => ("success", "Passed".to_owned()),
        CheckState::Failure { output } => ("failure", output.clone()),
    }
}

/// GitHub's combined state: failure wins, then pending (also when there is none).
fn combined_state(inner: &Inner, sha: &str) -> &'static str {
    let states: Vec<&'static str> = inner
        .checks_for(sha)
        .filter(|c| c.as_status)
        .map(|c| status_of(&c.state).0)
        .collect();
    if states.contains(&"failure") {
        "failure"
    } else if states.is_empty() || states.contains(&"pending") {
        "pending"
    } else {
        "success"
    }
}
