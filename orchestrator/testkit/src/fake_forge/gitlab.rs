//! The GitLab REST API v4: merge requests, their head pipeline and its jobs, job
//! traces, discussions, approvals and merge. The project id is the URL-encoded path
//! (`acme%2Fteam%2Fwidgets`); the numeric id [`PROJECT_ID`] is accepted as well.

use axum::{
    http::header,
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::{
    CheckState, CreateError, ForgeKind, Inner, MergeError, Pull, PullState, Req, Shared, Verdict,
    error, not_found, number, page::Page, respond, time_millis,
};

const KIND: ForgeKind = ForgeKind::GitLab;
/// The numeric id of the fake's one project.
const PROJECT_ID: u64 = 1;

pub(super) fn route(s: &Shared, req: &Req) -> Response {
    let segs: Vec<&str> = req.segs.iter().map(String::as_str).collect();
    let rest = match segs.as_slice() {
        ["projects", id, rest @ ..] if *id == s.owner_repo || *id == PROJECT_ID.to_string() => rest,
        ["projects", ..] => return error(KIND, 404, "404 Project Not Found"),
        _ => return not_found(KIND),
    };
    match (req.method.as_str(), rest) {
        ("POST", ["merge_requests"]) => create_mr(s, req),
        ("GET", ["merge_requests"]) => list_mrs(s, req),
        ("GET", ["merge_requests", n]) => with_mr(s, n, |p| respond(200, mr_json(s, p))),
        ("GET", ["merge_requests", n, "discussions"]) => with_mr(s, n, |p| {
            Page::of(KIND, req, discussions(p)).respond(KIND, &s.origin, req)
        }),
        ("GET", ["merge_requests", n, "approvals"]) => with_mr(s, n, approvals),
        ("PUT", ["merge_requests", n, "merge"]) => merge(s, req, n),
        ("GET", ["pipelines", id, "jobs"]) => jobs(s, req, id),
        ("GET", ["jobs", id, "trace"]) => trace(s, id),
        _ => not_found(KIND),
    }
}

fn with_mr(s: &Shared, n: &str, answer: impl FnOnce(&Pull) -> Response) -> Response {
    let pull = number(n).and_then(|n| s.lock().pull(n).cloned());
    match pull {
        Some(pull) => answer(&pull),
        None => error(KIND, 404, "404 Not found"),
    }
}

fn web_url(s: &Shared, tail: &str) -> String {
    format!("{}/{}/-/{tail}", s.origin, s.owner_repo)
}

fn mr_json(s: &Shared, p: &Pull) -> Value {
    let state = match p.state {
        PullState::Open => "opened",
        PullState::Closed => "closed",
        PullState::Merged => "merged",
    };
    let sha = s.head_sha(p);
    let head_pipeline = pipeline_json(s, &s.lock(), &sha, &p.head);
    json!({
        "id": p.id,
        "iid": p.number,
        "project_id": PROJECT_ID,
        "web_url": web_url(s, &format!("merge_requests/{}", p.number)),
        "state": state,
        "sha": sha,
        "merge_commit_sha": p.merge_commit,
        "squash_commit_sha": null,
        "source_branch": p.head,
        "target_branch": p.base,
        "title": p.title,
        "description": p.body,
        "author": { "username": super::BOT_USER },
        "head_pipeline": head_pipeline,
        "created_at": time_millis(&p.created_at),
        "updated_at": time_millis(&p.created_at),
    })
}

/// The pipeline of commit `sha` (the fake makes one per commit that has checks).
fn pipeline_json(s: &Shared, inner: &Inner, sha: &str, branch: &str) -> Value {
    let Some((id, _)) = inner.pipelines.iter().find(|(_, p)| p == sha) else {
        return Value::Null;
    };
    json!({
        "id": id,
        "iid": id,
        "project_id": PROJECT_ID,
        "sha": sha,
        "ref": branch,
        "status": pipeline_status(inner, sha),
        "web_url": web_url(s, &format!("pipelines/{id}")),
    })
}

/// Any failed job fails the pipeline; all passed passes it; otherwise it runs.
fn pipeline_status(inner: &Inner, sha: &str) -> &'static str {
    let states: Vec<&CheckState> = inner.checks_for(sha).map(|c| &c.state).collect();
    if states
        .iter()
        .any(|s| matches!(s, CheckState::Failure { .. }))
    {
        "failed"
    } else if !states.is_empty() && states.iter().all(|s| **s == CheckState::Success) {
        "success"
    } else {
        "running"
    }
}

fn create_mr(s: &Shared, req: &Req) -> Response {
    let (Some(source), Some(target), Some(title)) = (
        req.str("source_branch"),
        req.str("target_branch"),
        req.str("title"),
    ) else {
        return respond(
            400,
            json!({ "error": "source_branch, target_branch, title are missing" }),
        );
    };
    let description = req.str("description").unwrap_or_default();
    // GitLab allows one open merge request per source branch, whatever the target.
    match s.create_pull(source, target, title, description, true) {
        Ok(pull) => respond(201, mr_json(s, &pull)),
        Err(CreateError::Duplicate(iid)) => respond(
            409,
            json!({ "message": [format!(
                "Another open merge request already exists for this source branch: !{iid}"
            )] }),
        ),
        // A model validation error: 400 with the messages by field.
        Err(CreateError::NoHead) => respond(
            400,
            json!({ "message": { "source_branch": ["does not exist"] } }),
        ),
        Err(CreateError::NoBase) => respond(
            400,
            json!({ "message": { "target_branch": ["does not exist"] } }),
        ),
    }
}

fn list_mrs(s: &Shared, req: &Req) -> Response {
    // GitLab lists every state unless asked.
    let state = req.q("state").unwrap_or("all");
    let pulls: Vec<Pull> = s
        .lock()
        .pulls
        .iter()
        .filter(|p| match state {
            "opened" => p.state == PullState::Open,
            "closed" => p.state == PullState::Closed,
            "merged" => p.state == PullState::Merged,
            "locked" => false,
            _ => true,
        })
        .filter(|p| req.q("source_branch").is_none_or(|b| p.head == b))
        .filter(|p| req.q("target_branch").is_none_or(|b| p.base == b))
        .cloned()
        .collect();
    // Newest first, as GitLab orders by created_at desc.
    let items = pulls.iter().rev().map(|p| mr_json(s, p)).collect();
    Page::of(KIND, req, items).respond(KIND, &s.origin, req)
}

/// Discussions in order: per requested-changes review one resolvable diff discussion
/// per line comment and one individual note with its body; per approval the system
/// note GitLab writes.
fn discussions(p: &Pull) -> Vec<Value> {
    let mut out = Vec::new();
    for r in &p.reviews {
        let at = time_millis(&r.at);
        let author = json!({ "username": r.user });
        match r.verdict {
            Verdict::Approved => out.push(discussion(
                true,
                json!({
                    "id": r.id, "type": null, "body": "approved this merge request",
                    "author": author, "created_at": at, "system": true,
                    "resolvable": false, "resolved": false, "position": null,
                }),
            )),
            Verdict::ChangesRequested => {
                for c in &r.comments {
                    out.push(discussion(
                        false,
                        json!({
                            "id": c.id, "type": "DiffNote", "body": c.body,
                            "author": author, "created_at": at, "system": false,
                            "resolvable": true, "resolved": false,
                            "position": {
                                "position_type": "text",
                                "head_sha": r.commit_id,
                                "new_path": c.path, "new_line": c.line,
                                "old_path": c.path, "old_line": null,
                            },
                        }),
                    ));
                }
                if !r.body.is_empty() {
                    out.push(discussion(
                        true,
                        json!({
                            "id": r.id, "type": null, "body": r.body,
                            "author": author, "created_at": at, "system": false,
                            "resolvable": false, "resolved": false, "position": null,
                        }),
                    ));
                }
            }
        }
    }
    out
}

/// A discussion of one note; its id is a 40-hex string, as GitLab's are.
fn discussion(individual: bool, note: Value) -> Value {
    let id = format!("{:040x}", note["id"].as_u64().unwrap_or_default());
    json!({ "id": id, "individual_note": individual, "notes": [note] })
}

fn approvals(p: &Pull) -> Response {
    let mut approvers: Vec<&str> = Vec::new();
    for r in p.reviews.iter().filter(|r| r.verdict == Verdict::Approved) {
        if !approvers.contains(&r.user.as_str()) {
            approvers.push(&r.user);
        }
    }
    let approved_by: Vec<Value> = approvers
        .iter()
        .map(|u| json!({ "user": { "username": u } }))
        .collect();
    // One approval required, as a project with a single approval rule.
    respond(
        200,
        json!({
            "iid": p.number,
            "approved": !approved_by.is_empty(),
            "approvals_required": 1,
            "approvals_left": if approved_by.is_empty() { 1 } else { 0 },
            "approved_by": approved_by,
        }),
    )
}

fn merge(s: &Shared, req: &Req, n: &str) -> Response {
    let Some(iid) = number(n) else {
        return error(KIND, 404, "404 Not found");
    };
    match s.merge_pull(iid, req.str("sha")) {
        Ok(_) => with_mr(s, n, |p| respond(200, mr_json(s, p))),
        Err(MergeError::NotFound) => error(KIND, 404, "404 Not found"),
        Err(MergeError::NotOpen) => error(KIND, 405, "405 Method Not Allowed"),
        Err(MergeError::HeadMismatch { head }) => error(
            KIND,
            409,
            &format!("SHA does not match HEAD of source branch: {head}"),
        ),
        // GitLab answers conflicts with 422 (405 is for closed, draft, blocked).
        Err(MergeError::Conflict) => error(KIND, 422, "Branch cannot be merged"),
    }
}

fn job_status(state: &CheckState) -> &'static str {
    match state {
        CheckState::Pending => "running",
        CheckState::Success => "success",
        CheckState::Failure { .. } => "failed",
    }
}

fn jobs(s: &Shared, req: &Req, pipeline: &str) -> Response {
    let inner = s.lock();
    let Some((id, sha)) = inner
        .pipelines
        .iter()
        .find(|(id, _)| Some(*id) == number(pipeline))
    else {
        return error(KIND, 404, "404 Not found");
    };
    let items = inner
        .checks_for(sha)
        .map(|c| {
            json!({
                "id": c.id,
                "name": c.name,
                "stage": "test",
                "status": job_status(&c.state),
                "web_url": web_url(s, &format!("jobs/{}", c.id)),
                "pipeline": { "id": id, "sha": sha },
            })
        })
        .collect();
    drop(inner);
    Page::of(KIND, req, items).respond(KIND, &s.origin, req)
}

fn trace(s: &Shared, job: &str) -> Response {
    let inner = s.lock();
    let Some(check) = inner.checks.iter().find(|c| Some(c.id) == number(job)) else {
        return error(KIND, 404, "404 Not found");
    };
    let log = match &check.state {
        CheckState::Pending => String::new(),
        CheckState::Success => "Job succeeded\n".to_owned(),
        CheckState::Failure { output } => output.clone(),
    };
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], log).into_response()
}
