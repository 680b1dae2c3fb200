//! Hooks, `core.hooksPath`, `core.fsmonitor` and a `.gitattributes` filter planted in
//! the repository: the agent cannot write them into the shared `.git`, and when they
//! are there anyway (written by someone else), none of them runs when the harness
//! commits, verifies and merges.

use std::{os::unix::fs::PermissionsExt, path::Path};

use serde_json::json;

use crate::{attempt, cli_agent, completes, engine, git_repo, helpers::spawn_with, session_output};

/// An executable that leaves `marks/<name>` behind when anything runs it.
fn tripwire(dir: &Path, marks: &Path, name: &str) -> String {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!("#!/bin/sh\ntouch '{}/{name}'\ncat\n", marks.display()),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

const HOOKS: [&str; 8] = [
    "pre-commit",
    "commit-msg",
    "post-commit",
    "post-checkout",
    "post-merge",
    "reference-transaction",
    "post-index-change",
    "pre-auto-gc",
];

/// Plants every kind of program git could be made to start in `repo`.
fn plant(repo: &Path, marks: &Path, tools: &Path) {
    let hooks = repo.join(".git/hooks");
    let custom_hooks = tools.join("hooks");
    std::fs::create_dir_all(&custom_hooks).unwrap();
    for hook in HOOKS {
        tripwire(&hooks, marks, hook);
        tripwire(&custom_hooks, marks, hook);
    }
    let config = |key: &str, value: &str| git_repo::git(repo, &["config", key, value]);
    config("core.hooksPath", &custom_hooks.display().to_string());
    config("core.fsmonitor", &tripwire(tools, marks, "fsmonitor"));
    config("filter.evil.clean", &tripwire(tools, marks, "filter-clean"));
    config(
        "filter.evil.smudge",
        &tripwire(tools, marks, "filter-smudge"),
    );
    config("filter.evil.required", "true");
    config(
        "diff.evil.textconv",
        &tripwire(tools, marks, "diff-textconv"),
    );
    config("diff.evil.command", &tripwire(tools, marks, "diff-command"));
    config("merge.evil.driver", &tripwire(tools, marks, "merge-driver"));
}

const AGENT: &str = r#"printf '* filter=evil diff=evil merge=evil\n' > .gitattributes
printf 'payload from the agent\n' > payload.txt
common=$(cd "$(git rev-parse --git-common-dir)" && pwd)
"#;

#[tokio::test]
async fn nothing_planted_in_the_repository_runs_when_the_harness_commits_verifies_and_merges() {
    let repo = git_repo::init_repo(&[("README.md", "hello\n")]);
    let path = git_repo::repo_path(&repo);
    let marks = tempfile::tempdir().unwrap();
    let tools = tempfile::tempdir().unwrap();
    let script = [
        AGENT.to_owned(),
        attempt("set core.hooksPath", "git config core.hooksPath /tmp"),
        attempt("set core.fsmonitor", "git config core.fsmonitor /bin/true"),
        attempt(
            "write a hook",
            "printf '#!/bin/sh\\ntouch /tmp/pwned\\n' > \"$common/hooks/post-merge\"",
        ),
        attempt(
            "write info/attributes",
            "echo '* filter=evil' > \"$common/info/attributes\"",
        ),
        attempt(
            "move the base branch",
            "git update-ref refs/heads/main HEAD",
        ),
    ]
    .join("\n");
    let app = spawn_with(|s| {
        engine(s, &path, None);
        cli_agent(s, &script);
        s.engine.verify = vec!["grep -q 'payload from the agent' payload.txt".into()];
    })
    .await;
    plant(&path, marks.path(), tools.path());
    let task = app.create_task(json!({"title": "Plant"})).await;
    completes(&app, &task).await;

    let out = session_output(&app, &task).await;
    for what in [
        "set core.hooksPath",
        "set core.fsmonitor",
        "write a hook",
        "write info/attributes",
        "move the base branch",
    ] {
        assert!(out.contains(&format!("BLOCKED {what}")), "{what}: {out}");
    }
    let ran: Vec<_> = std::fs::read_dir(marks.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(ran.is_empty(), "planted programs ran: {ran:?}");
    // The merge reached the person's checkout unfiltered.
    assert_eq!(
        std::fs::read_to_string(path.join("payload.txt")).unwrap(),
        "payload from the agent\n"
    );
    assert_eq!(
        std::fs::read_to_string(path.join(".gitattributes")).unwrap(),
        "* filter=evil diff=evil merge=evil\n"
    );
}
