//! The Gitea (and Forgejo) REST API v1: pulls, the combined commit status, reviews,
//! review comments and merge.

use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{
    CheckState, CreateError, ForgeKind, MergeError, Pull, PullState, Req, Shared, Verdict, error,
    not_found, number, page::Page, respond, time_secs,
};

const KIND: ForgeKind = ForgeKind::Gitea;

pub(super) fn route(s: &Shared, req: &Req) -> Response {
    let segs: Vec<&str> = req.segs.iter().map(String::as_str).collect();
    let rest = match segs.as_slice() {
        ["repos", owner, repo, rest @ ..] if format!("{owner}/{repo}") == s.owner_repo => rest,
        _ => return not_found(KIND),
    };
    match (req.method.as_str(), rest) {
        ("POST", ["pulls"]) => create_pull(s, req),
        ("GET", ["pulls"]) => list_pulls(s, req),
        ("GET", ["pulls", n]) => with_pull(s, n, |p| respond(200, pull_json(s, p))),
        ("GET", ["pulls", n, "reviews"]) => with_pull(s, n, |p| reviews(s, req, p)),
        ("GET", ["pulls", n, "reviews", id, "comments"]) => {
            with_pull(s, n, |p| review_comments(s, p, id))
        }
        ("POST", ["pulls", n, "merge"]) => merge(s, req, n),
        ("GET", ["commits", rev, "status"]) => combined_status(s, req, rev),
        _ => not_found(KIND),
    }
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
    json!({
        "id": p.id,
        "number": p.number,
        "url": format!("{}/{}/pulls/{}", s.origin, s.owner_repo, p.number),
        "html_url": format!("{}/{}/pulls/{}", s.origin, s.owner_repo, p.number),
        "state": state,
        "merged": p.state == PullState::Merged,
        "mergeable": p.state == PullState::Open,
        "merge_commit_sha": p.merge_commit,
        "title": p.title,
        "body": p.body,
        "user": { "login": super::BOT_USER },
        "head": { "ref": p.head, "sha": s.head_sha(p), "label": p.head },
        "base": { "ref": p.base, "sha": s.base_sha(p), "label": p.base },
        "created_at": time_secs(&p.created_at),
        "updated_at": time_secs(&p.created_at),
    })
}

fn create_pull(s: &Shared, req: &Req) -> Response {
    let (Some(head), Some(base)) = (req.str("head"), req.str("base")) else {
        return error(KIND, 422, "head and base are required");
    };
    let title = req.str("title").unwrap_or(head);
    let body = req.str("body").unwrap_or_default();
    match s.create_pull(head, base, title, body, false) {
        Ok(pull) => respond(201, pull_json(s, &pull)),
        Err(CreateError::Duplicate(number)) => error(
            KIND,
            409,
            &format!(
                "pull request already exists for these targets [id: {number}, issue_id: {number}, \
                 head_repo_id: 1, base_repo_id: 1, head_branch: {head}, base_branch: {base}]"
            ),
        ),
        Err(CreateError::NoHead) => error(KIND, 422, &format!("head branch {head} does not exist")),
        Err(CreateError::NoBase) => error(KIND, 422, &format!("base branch {base} does not exist")),
    }
}

fn list_pulls(s: &Shared, req: &Req) -> Response {
    let state = req.q("state").unwrap_or("open");
    let pulls: Vec<Pull> = s
        .lock()
        .pulls
        .iter()
        .filter(|p| match state {
            "all" => true,
            "closed" => p.state != PullState::Open,
            _ => p.state == PullState::Open,
        })
        .cloned()
        .collect();
    let items = pulls.iter().rev().map(|p| pull_json(s, p)).collect();
    Page::of(KIND, req, items).respond(KIND, &s.origin, req)
}

fn reviews(s: &Shared, req: &Req, p: &Pull) -> Response {
    let head = s.head_sha(p);
    let items = p
        .reviews
        .iter()
        .map(|r| {
            let state = match r.verdict {
                Verdict::Approved => "APPROVED",
                Verdict::ChangesRequested => "REQUEST_CHANGES",
            };
            json!({
                "id": r.id,
                "user": { "login": r.user },
                "body": r.body,
                "state": state,
                "submitted_at": time_secs(&r.at),
                "updated_at": time_secs(&r.at),
                "commit_id": r.commit_id,
                "comments_count": r.comments.len(),
                "dismissed": false,
                // Gitea marks a review stale once the head moves past its commit.
                "stale": r.commit_id != head,
                "official": true,
                "html_url": format!("{}/{}/pulls/{}#issuecomment-{}", s.origin, s.owner_repo, p.number, r.id),
            })
        })
        .collect();
    Page::of(KIND, req, items).respond(KIND, &s.origin, req)
}

/// Not paginated: Gitea answers a review's comments in one list.
fn review_comments(s: &Shared, p: &Pull, id: &str) -> Response {
    let Some(review) = p.reviews.iter().find(|r| Some(r.id) == number(id)) else {
        return not_found(KIND);
    };
    let items: Vec<Value> = review
        .comments
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "pull_request_review_id": review.id,
                "path": c.path,
                "position": c.line,
                "original_position": c.line,
                "body": c.body,
                "user": { "login": review.user },
                "created_at": time_secs(&review.at),
                "updated_at": time_secs(&review.at),
                "commit_id": review.commit_id,
                "original_commit_id": review.commit_id,
                "diff_hunk": "",
                "html_url": format!("{}/{}/pulls/{}#issuecomment-{}", s.origin, s.owner_repo, p.number, c.id),
            })
        })
        .collect();
    respond(200, Value::Array(items))
}

fn merge(s: &Shared, req: &Req, n: &str) -> Response {
    let Some(n) = number(n) else {
        return not_found(KIND);
    };
    if req.str("Do").is_some_and(|d| d != "merge") {
        return error(
            KIND,
            422,
            "The fake forge only does merge commits (Do merge)",
        );
    }
    match s.merge_pull(n, req.str("head_commit_id")) {
        Ok(_) => axum::http::StatusCode::OK.into_response(),
        Err(MergeError::NotFound) => not_found(KIND),
        Err(MergeError::NotOpen) => error(KIND, 405, "The pull request is closed or merged"),
        Err(MergeError::Conflict) => error(KIND, 405, "Please try again later"),
        Err(MergeError::HeadMismatch { .. }) => error(KIND, 409, "head out of date"),
    }
}

fn status_of(state: &CheckState) -> (&'static str, String) {
    match state {
        CheckState::Pending => ("pending", "In progress".to_owned()),
        CheckState::Success => ("success", "Passed".to_owned()),
        CheckState::Failure { output } => ("failure", output.clone()),
    }
}

/// Gitea's combined state: the worst of the statuses, "" when there is none.
fn combined(states: &[&str]) -> &'static str {
    for worst in ["error", "failure", "warning", "pending", "success"] {
        if states.contains(&worst) {
            return worst;
        }
    }
    ""
}

fn combined_status(s: &Shared, req: &Req, rev: &str) -> Response {
    let sha = s.repo.resolve(rev).unwrap_or_else(|| rev.to_owned());
    let statuses: Vec<(&'static str, Value)> = s
        .lock()
        .checks_for(&sha)
        .map(|c| {
            let (status, description) = status_of(&c.state);
            let json = json!({
                "id": c.id,
                "context": c.name,
                "status": status,
                "description": description,
                "target_url": format!("{}/{}/actions/runs/{}", s.origin, s.owner_repo, c.id),
                "created_at": time_secs(&c.at),
                "updated_at": time_secs(&c.at),
            });
            (status, json)
        })
        .collect();
    let states: Vec<&str> = statuses.iter().map(|(s, _)| *s).collect();
    let state = combined(&states);
    let page = Page::of(KIND, req, statuses.into_iter().map(|(_, v)| v).collect());
    let headers = page.headers(KIND, &s.origin, req);
    let body = json!({
        "state": state,
        "sha": sha,
        "total_count": page.total,
        "statuses": page.items,
    });
    (headers, axum::Json(body)).into_response()
}
