//! Agents leaving git data behind for the harness's own git to trip over: a nested
//! repository with its own filter, a `.git` file pointed at a git directory the agent
//! built (with a filter whose name holds `=`), and content that must not land (a
//! symlink to `/etc/passwd`, a file over the size cap).
//!
//! Each planted program tries to leave a marker in the data directory, which only an
//! unconfined process can write: the agent's own git may start it (inside the
//! sandbox, where the write fails), the harness's git must never.

use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    cli_agent, engine, git_repo,
    helpers::{TestApp, json_with, spawn_with},
    session_output, wait_for,
};

/// Writes `<name>.sh` in the worktree and sets `$tw` to the filter command that runs
/// it: one that passes its input through and first tries to leave `escaped-<name>` in
/// `marks`. Run through `sh`, so it starts where the worktree is on a `noexec` mount
/// (the orchestrator container's `/tmp`): an escape must not hide behind the mount.
fn tripwire(marks: &Path, name: &str) -> String {
    format!(
        "twf=\"$PWD/{name}.sh\"\nprintf '#!/bin/sh\\ntouch %s/escaped-{name}\\ncat\\n' '{}' > \"$twf\"\ntw=\"sh $twf\"\n",
        marks.display()
    )
}

/// The markers any planted program left in `marks`.
fn escaped(marks: &Path) -> Vec<String> {
    std::fs::read_dir(marks)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("escaped-"))
                .collect()
        })
        .unwrap_or_default()
}

/// Runs `script` as the agent of one task with `max_attempts`, whose verification
/// fails when `verify_fails` (so the next attempt must set the worktree aside, where
/// the harness's git once read what the agent left). Waits until the task is blocked
/// and returns the app, the task, its log and the data directory.
async fn hostile_task(
    script: impl FnOnce(&Path) -> String,
    max_attempts: u32,
    verify_fails: bool,
    tweak: impl FnOnce(&mut harness::config::Settings),
) -> (TestApp, Value, String, PathBuf, tempfile::TempDir) {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let mut data = PathBuf::new();
    let app = spawn_with(|s| {
        engine(s, &path, None);
        data = s.database_path.parent().unwrap().to_path_buf();
        cli_agent(s, &script(&data));
        if verify_fails {
            s.engine.verify = vec!["echo verification fails on purpose; exit 1".into()];
        }
        tweak(s);
    })
    .await;
    let task = app
        .create_task(json!({"title": "Plant git data", "max_attempts": max_attempts}))
        .await;
    let task = wait_for(&app, &format!("/api/tasks/{}", task["id"]), |t| {
        matches!(
            t["status"].as_str(),
            Some("blocked" | "failed" | "completed")
        )
    })
    .await;
    assert_eq!(app.get("/health").await.status(), StatusCode::OK);
    // The logs, and why each session ended (a worktree that could not be prepared
    // says so there).
    let mut out = session_output(&app, &task).await;
    let sessions = json_with(
        app.get(&format!("/api/sessions?task_id={}", task["id"]))
            .await,
        StatusCode::OK,
    )
    .await;
    for session in sessions["items"].as_array().unwrap() {
        out.push_str(session["exit_reason"].as_str().unwrap_or_default());
        out.push('\n');
    }
    (app, task, out, data, repo)
}

#[tokio::test]
async fn a_nested_repository_with_its_own_filter_runs_nothing_outside_the_sandbox() {
    // Before: the retry set the first attempt's worktree aside with a plain
    // `git -C <worktree> status`, which entered the committed nested repository and ran
    // its filter on its stale file, unconfined. Now no status enters it and it is
    // never committed.
    let script = |marks: &Path| {
        format!(
            "{}mkdir sub && cd sub && git init -q \
             && git config filter.x.clean \"$tw\" && git config filter.x.smudge \"$tw\" \
             && printf '* filter=x\\n' > .gitattributes && echo data > f \
             && git add -A && git -c user.name=a -c user.email=a@a commit -qm nested \
             && touch -d '2030-01-01' f && cd .. \
             && printf '* filter=x\\n' > .gitattributes && git add sub && echo planted\n",
            tripwire(marks, "nested")
        )
    };
    let (_app, task, out, data, repo) = hostile_task(script, 2, true, |_| {}).await;
    assert!(out.contains("planted"), "{out}");
    assert_eq!(escaped(&data), Vec::<String>::new(), "{out}");
    assert_eq!(task["status"], "blocked", "{task:#}");
    assert!(
        out.contains("the work holds nested git repositories") && out.contains(": sub"),
        "{out}"
    );
    // Nothing of it reached the base.
    let path = git_repo::repo_path(&repo);
    assert_eq!(
        git_repo::git(&path, &["ls-tree", "--name-only", "main"]),
        "README.md"
    );
}

#[tokio::test]
async fn a_dot_git_pointed_at_a_planted_git_dir_with_an_equals_filter_runs_nothing() {
    // Before: the retry's plain `git -C <worktree> status` followed the rewritten
    // `.git` into the agent's git directory, and `-c filter.a=b.clean=` (split by git
    // at the first `=`) left its filter live: it ran, unconfined, on the stale file.
    let script = |marks: &Path| {
        format!(
            "{}admin=$(git rev-parse --absolute-git-dir) && evil=\"$admin/evil\" \
             && git init -q --bare \"$evil\" && git --git-dir=\"$evil\" config core.bare false \
             && git --git-dir=\"$evil\" config 'filter.a=b.clean' \"$tw\" \
             && git --git-dir=\"$evil\" config 'filter.a=b.smudge' \"$tw\" \
             && git --git-dir=\"$evil\" config 'filter.a=b.required' true \
             && printf '* filter=a=b\\n' > .gitattributes \
             && printf 'gitdir: %s\\n' \"$evil\" > .git \
             && git add README.md .gitattributes \
             && touch -d '2030-01-01' README.md && echo planted\n",
            tripwire(marks, "equals")
        )
    };
    let (app, task, out, data, _repo) = hostile_task(script, 2, true, |_| {}).await;
    assert!(out.contains("planted"), "{out}");
    assert_eq!(escaped(&data), Vec::<String>::new(), "{out}");
    assert_eq!(task["status"], "blocked", "{task:#}");
    // The first attempt's worktree could not be removed by git (its `.git` does not
    // point back): it was moved aside untouched, its work kept on a branch.
    assert!(
        out.contains("untouched") && out.contains("no git ran in it"),
        "{out}"
    );
    let again = app.create_task(json!({"title": "after"})).await;
    assert_eq!(again["status"], "pending");
}

#[tokio::test]
async fn a_symlink_out_of_the_repository_and_a_file_over_the_cap_do_not_land() {
    let script = |_: &Path| {
        "ln -s /etc/passwd passwd-link && head -c 2097152 /dev/zero > big.bin \
         && echo ok > small.txt && echo planted\n"
            .to_owned()
    };
    let (_app, task, out, _data, repo) = hostile_task(script, 1, false, |s| {
        s.engine.reliability.land_content.max_file_bytes = Some(1 << 20);
    })
    .await;
    assert!(out.contains("planted"), "{out}");
    assert_eq!(task["status"], "blocked", "{task:#}");
    assert!(
        out.contains("passwd-link is a symlink to /etc/passwd, which is absolute"),
        "{out}"
    );
    assert!(
        out.contains("big.bin is 2097152 bytes, over HARNESS_LAND_MAX_FILE_MB=1"),
        "{out}"
    );
    let path = git_repo::repo_path(&repo);
    assert_eq!(
        git_repo::git(&path, &["ls-tree", "--name-only", "main"]),
        "README.md"
    );
    assert!(std::fs::symlink_metadata(path.join("passwd-link")).is_err());
}

#[tokio::test]
async fn the_settings_let_an_outside_symlink_and_a_large_file_land() {
    let script = |_: &Path| {
        "ln -s /etc/passwd passwd-link && head -c 2097152 /dev/zero > big.bin && echo planted\n"
            .to_owned()
    };
    let (_app, task, out, _data, repo) = hostile_task(script, 1, false, |s| {
        s.engine.reliability.land_content.max_file_bytes = None;
        s.engine.reliability.land_content.allow_outside_symlinks = true;
    })
    .await;
    assert_eq!(task["status"], "completed", "{task:#}\n{out}");
    let path = git_repo::repo_path(&repo);
    let landed = git_repo::git(&path, &["ls-tree", "--name-only", "main"]);
    assert!(
        landed.contains("passwd-link") && landed.contains("big.bin"),
        "{landed}"
    );
}
