//! Agents using the repository's git data against the sandbox: a `.git` file and a
//! `commondir` planted to widen what the next command may read, and other tasks'
//! branches moved through the shared `.git`.

use serde_json::json;

use crate::{attempt, data_dir, git_repo, run_commands};

fn assert_blocked(results: &[String]) {
    for result in results {
        assert!(
            result.contains("BLOCKED") && !result.contains("ESCAPED"),
            "an attempt got through: {result}"
        );
    }
}

#[tokio::test]
async fn a_planted_gitdir_and_commondir_open_nothing_to_the_next_command() {
    // The attack: the sandbox once read `<worktree>/.git` and then `commondir` to decide
    // which git directories to grant, so `commondir` = `/` granted the whole filesystem.
    let plant = "cp .git .git.orig && mkdir fake && printf 'gitdir: fake\\n' > .git \
        && echo / > fake/commondir && printf 'ref: refs/heads/main\\n' > fake/HEAD \
        && echo planted";
    let commands = [
        plant.to_owned(),
        attempt("read the database", "cat ../../harness.db"),
        attempt(
            "read the database by absolute path",
            "cat \"$(cd ../.. && pwd)/harness.db\"",
        ),
        attempt("list the data directory", "ls ../.."),
        attempt("plant in the data directory", "touch ../../planted"),
        // Put the worktree back, so the harness can commit and the task completes.
        "mv .git.orig .git && rm -rf fake && echo restored".to_owned(),
    ];
    let (app, _task, results, _repo) = run_commands(&commands, |_| {}).await;
    assert!(results[0].contains("planted"), "{}", results[0]);
    assert!(results[5].contains("restored"), "{}", results[5]);
    assert_blocked(&results[1..5]);
    assert!(!data_dir(&app).join("planted").exists());
    let again = app.create_task(json!({"title": "after"})).await;
    assert_eq!(again["status"], "pending");
}

#[tokio::test]
async fn an_agent_moves_no_branch_and_its_git_still_reads_the_repository() {
    let common = "common=$(cd \"$(git rev-parse --git-common-dir)\" && pwd)";
    let commands = [
        attempt(
            "move another branch",
            "git update-ref refs/heads/harness/T-999 HEAD",
        ),
        attempt("force another branch", "git branch -f harness/T-999 HEAD"),
        attempt(
            "write another ref file",
            &format!("{common} && git rev-parse HEAD > \"$common/refs/heads/harness/T-999\""),
        ),
        attempt(
            "delete another branch",
            "git update-ref -d refs/heads/harness/T-999",
        ),
        attempt("create a branch", "git branch harness/T-1000"),
        attempt(
            "write into the object store",
            "echo planted | git hash-object -w --stdin",
        ),
        // The agent's own git still works for what it needs: reading the history and
        // the state of its worktree (its index lives in its own admin directory).
        "echo change >> README.md && git status --short && git log --format=%s -1".to_owned(),
    ];
    let mut before = String::new();
    let (_app, _task, results, repo) = run_commands(&commands, |s| {
        let workspace = s.engine.workspace.clone().unwrap();
        git_repo::git(&workspace, &["branch", "harness/T-999"]);
        git_repo::git(
            &workspace,
            &["commit", "-q", "--allow-empty", "-m", "second"],
        );
        before = git_repo::git(&workspace, &["rev-parse", "harness/T-999"]);
    })
    .await;
    let (blocked, control) = results.split_at(results.len() - 1);
    assert_blocked(blocked);
    assert!(
        control[0].starts_with("exit code 0")
            && control[0].contains("M README.md")
            && control[0].contains("second"),
        "{}",
        control[0]
    );
    let path = git_repo::repo_path(&repo);
    assert_eq!(
        git_repo::git(&path, &["rev-parse", "harness/T-999"]),
        before
    );
    assert_eq!(
        git_repo::git(&path, &["branch", "--list", "harness/T-1000"]),
        ""
    );
}
