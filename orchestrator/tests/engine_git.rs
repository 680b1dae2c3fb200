//! Git worktrees on real temporary repositories: one branch per attempt, commits with a
//! configured author, landing that leaves the base untouched on conflict, and cleanup
//! that never deletes uncommitted work.

use harness_testkit::git_repo;

use git_repo::{git, init_repo, repo_path};
use std::time::Duration;

use harness::engine::{
    git::{Author, BranchCleanup, GitError, Repo, Worktree},
    landing::{LandingError, LandingGit},
};

fn author() -> Author {
    Author {
        name: "Harness Bot".into(),
        email: "bot@example.com".into(),
    }
}

#[test]
fn a_worktree_gets_its_own_harness_branch_from_the_base() {
    let tmp = init_repo(&[("a.txt", "a\n")]);
    let repo = Repo::open(repo_path(&tmp)).unwrap();
    assert_eq!(repo.current_branch().unwrap(), "main");
    let wt = repo
        .create_worktree("T-7", "main", &tmp.path().join("wt/T-7"))
        .unwrap();
    assert_eq!(wt.branch, "harness/T-7");
    assert_eq!(
        git(&wt.path, &["rev-parse", "--abbrev-ref", "HEAD"]),
        "harness/T-7"
    );
    assert!(wt.path.join("a.txt").exists());
    let again = repo.create_worktree("T-7", "main", &wt.path);
    assert!(matches!(again, Err(GitError::WorktreeExists(_))));
}

#[test]
fn a_directory_that_is_not_a_repository_is_reported_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let err = Repo::open(dir.path()).unwrap_err();
    assert!(matches!(err, GitError::NotARepository { .. }), "{err}");
}

#[test]
fn commit_all_uses_the_configured_author_and_skips_an_empty_commit() {
    let tmp = init_repo(&[("a.txt", "a\n")]);
    let repo = Repo::open(repo_path(&tmp)).unwrap();
    let wt = repo
        .create_worktree("T-1", "main", &tmp.path().join("wt/T-1"))
        .unwrap();
    assert_eq!(
        repo.commit_all(&wt.path, "nothing", &author()).unwrap(),
        None
    );
    std::fs::write(wt.path.join("new.txt"), "n\n").unwrap();
    let sha = repo
        .commit_all(&wt.path, "T-1: add new", &author())
        .unwrap();
    assert!(sha.is_some());
    let who = git(&wt.path, &["log", "-1", "--format=%an <%ae>|%s"]);
    assert_eq!(who, "Harness Bot <bot@example.com>|T-1: add new");
    let diff = repo.diff("main", &wt.branch, 10_000).unwrap();
    assert!(diff.contains("new.txt"));
}

fn landing_git() -> LandingGit {
    LandingGit {
        timeout: Duration::from_secs(60),
    }
}

/// Lands `wt` on `base` the way an attempt does: bring the branch up to the base's
/// current commit, then fast-forward the base from that commit.
fn land(repo: &Repo, wt: &Worktree) -> Result<String, LandingError> {
    let git = landing_git();
    let base_commit = git.base_head(repo.root(), &wt.base)?;
    let data = repo.worktree_git(wt)?;
    git.bring_up_to_date(&data, &wt.base, &base_commit, &author())?;
    let head = git.head(&data)?;
    git.fast_forward(repo.root(), &wt.base, &base_commit, &head)?;
    Ok(head)
}

#[test]
fn landing_merges_the_base_into_the_branch_and_fast_forwards_its_checkout() {
    let tmp = init_repo(&[("a.txt", "a\n")]);
    let repo = Repo::open(repo_path(&tmp)).unwrap();
    let wt = repo
        .create_worktree("T-2", "main", &tmp.path().join("wt/T-2"))
        .unwrap();
    std::fs::write(wt.path.join("b.txt"), "b\n").unwrap();
    repo.commit_all(&wt.path, "add b", &author()).unwrap();
    // The base moves on meanwhile, without touching b.txt: still a clean merge.
    std::fs::write(repo.root().join("c.txt"), "c\n").unwrap();
    git(repo.root(), &["add", "c.txt"]);
    git(repo.root(), &["commit", "-q", "-m", "add c"]);

    let landed = land(&repo, &wt).unwrap();

    let parents = git(repo.root(), &["log", "-1", "--format=%P", "main"]);
    assert_eq!(parents.split_whitespace().count(), 2, "a real merge commit");
    assert_eq!(git(repo.root(), &["rev-parse", "main"]), landed);
    assert!(
        repo.root().join("b.txt").exists(),
        "checkout of main was updated"
    );
    assert!(git(repo.root(), &["status", "--porcelain"]).is_empty());
}

#[test]
fn a_conflict_lists_the_files_and_leaves_the_base_and_the_branch_untouched() {
    let tmp = init_repo(&[("a.txt", "line\n"), ("other.txt", "o\n")]);
    let repo = Repo::open(repo_path(&tmp)).unwrap();
    let wt = repo
        .create_worktree("T-3", "main", &tmp.path().join("wt/T-3"))
        .unwrap();
    std::fs::write(wt.path.join("a.txt"), "agent\n").unwrap();
    repo.commit_all(&wt.path, "agent edit", &author()).unwrap();
    std::fs::write(repo.root().join("a.txt"), "human\n").unwrap();
    git(repo.root(), &["commit", "-q", "-am", "human edit"]);
    let before = git(repo.root(), &["rev-parse", "main"]);
    let branch_before = git(&wt.path, &["rev-parse", "HEAD"]);

    let err = land(&repo, &wt).unwrap_err();

    match &err {
        LandingError::Conflict { files, .. } => assert_eq!(files, &["a.txt"]),
        other => panic!("expected a conflict, got {other}"),
    }
    assert!(err.to_string().contains("a.txt"));
    assert_eq!(git(repo.root(), &["rev-parse", "main"]), before);
    assert_eq!(git(&wt.path, &["rev-parse", "HEAD"]), branch_before);
    assert!(git(&wt.path, &["status", "--porcelain"]).is_empty());
    assert_eq!(
        std::fs::read_to_string(repo.root().join("a.txt")).unwrap(),
        "human\n"
    );
    assert!(git(repo.root(), &["status", "--porcelain"]).is_empty());
}

#[test]
fn landing_on_a_base_that_is_not_checked_out_moves_only_the_ref() {
    let tmp = init_repo(&[("a.txt", "a\n")]);
    let root = repo_path(&tmp);
    git(&root, &["branch", "release"]);
    let repo = Repo::open(&root).unwrap();
    let wt = repo
        .create_worktree("T-4", "release", &tmp.path().join("wt/T-4"))
        .unwrap();
    std::fs::write(wt.path.join("r.txt"), "r\n").unwrap();
    repo.commit_all(&wt.path, "r", &author()).unwrap();
    land(&repo, &wt).unwrap();
    assert_eq!(git(&root, &["show", "release:r.txt"]), "r");
    assert!(
        !root.join("r.txt").exists(),
        "main's checkout is not touched"
    );
}

#[test]
fn local_changes_in_the_base_checkout_block_landing_without_losing_them() {
    let tmp = init_repo(&[("a.txt", "a\n")]);
    let repo = Repo::open(repo_path(&tmp)).unwrap();
    let wt = repo
        .create_worktree("T-5", "main", &tmp.path().join("wt/T-5"))
        .unwrap();
    std::fs::write(wt.path.join("a.txt"), "agent\n").unwrap();
    repo.commit_all(&wt.path, "agent", &author()).unwrap();
    std::fs::write(repo.root().join("a.txt"), "uncommitted human work\n").unwrap();
    let before = git(repo.root(), &["rev-parse", "main"]);

    let err = land(&repo, &wt).unwrap_err();

    assert!(
        matches!(err, LandingError::BaseCheckoutBlocked { .. }),
        "{err}"
    );
    assert_eq!(git(repo.root(), &["rev-parse", "main"]), before);
    assert_eq!(
        std::fs::read_to_string(repo.root().join("a.txt")).unwrap(),
        "uncommitted human work\n"
    );
}

#[test]
fn a_base_that_moved_since_the_branch_was_brought_up_is_not_landed_over() {
    let tmp = init_repo(&[("a.txt", "a\n")]);
    let repo = Repo::open(repo_path(&tmp)).unwrap();
    let wt = repo
        .create_worktree("T-6", "main", &tmp.path().join("wt/T-6"))
        .unwrap();
    std::fs::write(wt.path.join("b.txt"), "b\n").unwrap();
    repo.commit_all(&wt.path, "add b", &author()).unwrap();
    let g = landing_git();
    let base_commit = g.base_head(repo.root(), "main").unwrap();
    let data = repo.worktree_git(&wt).unwrap();
    g.bring_up_to_date(&data, "main", &base_commit, &author())
        .unwrap();
    let head = g.head(&data).unwrap();
    // Another landing moves main after this branch was brought up to it.
    std::fs::write(repo.root().join("c.txt"), "c\n").unwrap();
    git(repo.root(), &["add", "c.txt"]);
    git(repo.root(), &["commit", "-q", "-m", "add c"]);
    let moved = git(repo.root(), &["rev-parse", "main"]);

    let err = g
        .fast_forward(repo.root(), "main", &base_commit, &head)
        .unwrap_err();

    assert!(matches!(err, LandingError::BaseMoved { .. }), "{err}");
    assert_eq!(git(repo.root(), &["rev-parse", "main"]), moved);
}

#[test]
fn leftover_worktrees_report_uncommitted_work_and_are_not_removed_silently() {
    let tmp = init_repo(&[("a.txt", "a\n")]);
    let repo = Repo::open(repo_path(&tmp)).unwrap();
    let clean = repo
        .create_worktree("T-10", "main", &tmp.path().join("wt/T-10"))
        .unwrap();
    let dirty = repo
        .create_worktree("T-11", "main", &tmp.path().join("wt/T-11"))
        .unwrap();
    std::fs::write(dirty.path.join("wip.txt"), "work in progress\n").unwrap();

    let mut leftovers = repo.leftover_worktrees("main").unwrap();
    leftovers.sort_by(|a, b| a.branch.cmp(&b.branch));
    assert_eq!(leftovers.len(), 2, "the main checkout is not a leftover");
    assert_eq!(leftovers[0].branch, "harness/T-10");
    assert!(leftovers[0].uncommitted.is_empty());
    assert!(!leftovers[0].holds_work());
    assert_eq!(leftovers[1].uncommitted, ["wip.txt"]);
    assert!(leftovers[1].holds_work());

    let err = repo
        .remove_worktree(&dirty.path, false, BranchCleanup::Force)
        .unwrap_err();
    assert!(matches!(err, GitError::Dirty { .. }), "{err}");
    assert!(dirty.path.join("wip.txt").exists());

    repo.remove_worktree(&clean.path, false, BranchCleanup::Force)
        .unwrap();
    assert!(!clean.path.exists());
    let branches = git(repo.root(), &["branch", "--list", "harness/*"]);
    assert!(!branches.contains("T-10"));
    assert!(branches.contains("T-11"));
}

#[test]
fn a_retry_recreates_the_branch_from_the_current_base() {
    let tmp = init_repo(&[("a.txt", "a\n")]);
    let repo = Repo::open(repo_path(&tmp)).unwrap();
    let first = repo
        .create_worktree("T-12", "main", &tmp.path().join("wt/T-12-1"))
        .unwrap();
    std::fs::write(first.path.join("bad.txt"), "bad\n").unwrap();
    repo.commit_all(&first.path, "bad attempt", &author())
        .unwrap();
    repo.remove_worktree(&first.path, false, BranchCleanup::Keep)
        .unwrap();

    let second = repo
        .create_worktree("T-12", "main", &tmp.path().join("wt/T-12-2"))
        .unwrap();
    assert!(
        !second.path.join("bad.txt").exists(),
        "the retry starts fresh"
    );
}

#[test]
fn removing_a_worktree_keeps_a_branch_with_unmerged_commits() {
    let tmp = init_repo(&[("a.txt", "a\n")]);
    let repo = Repo::open(repo_path(&tmp)).unwrap();
    let wt = repo
        .create_worktree("T-20", "main", &tmp.path().join("wt/T-20"))
        .unwrap();
    std::fs::write(wt.path.join("work.txt"), "committed work\n").unwrap();
    repo.commit_all(&wt.path, "work", &author()).unwrap();
    assert_eq!(repo.unmerged_commits("harness/T-20", "main").unwrap(), 1);
    let leftover = &repo.leftover_worktrees("main").unwrap()[0];
    assert_eq!(leftover.unmerged_commits, 1);
    assert!(leftover.holds_work(), "committed but unmerged work counts");
    assert!(!repo.is_merged("harness/T-20", "main").unwrap());

    repo.remove_worktree(&wt.path, false, BranchCleanup::IfMergedInto("main"))
        .unwrap();

    assert!(!wt.path.exists());
    let branches = git(repo.root(), &["branch", "--list", "harness/*"]);
    assert!(branches.contains("harness/T-20"), "unmerged work was kept");
}

/// An agent can rewrite its worktree's `.git` file and its admin directory's HEAD. The
/// harness's commit and landing use the git data it recorded, so the work lands on the
/// attempt's branch or nowhere, never on the base behind verification's back.
#[test]
fn a_worktree_pointed_at_the_base_commits_nothing_there() {
    let tmp = init_repo(&[("a.txt", "a\n")]);
    let repo = Repo::open(repo_path(&tmp)).unwrap();
    let wt = repo
        .create_worktree("T-9", "main", &tmp.path().join("wt/T-9"))
        .unwrap();
    let main_before = git(repo.root(), &["rev-parse", "main"]);
    let dot_git = repo.root().join(".git");

    // `.git` now names the repository itself: plain git in the worktree would commit
    // onto whatever the repository has checked out (main).
    std::fs::write(
        wt.path.join(".git"),
        format!("gitdir: {}\n", dot_git.display()),
    )
    .unwrap();
    std::fs::write(wt.path.join("b.txt"), "b\n").unwrap();
    let sha = repo
        .commit_attempt(&wt, "T-9: add b", &author())
        .unwrap()
        .expect("a commit");
    assert_eq!(git(repo.root(), &["rev-parse", "harness/T-9"]), sha);
    assert_eq!(git(repo.root(), &["rev-parse", "main"]), main_before);

    // The admin directory's HEAD moved to main: nothing is committed or merged.
    let admin = dot_git.join("worktrees/T-9");
    std::fs::write(admin.join("HEAD"), "ref: refs/heads/main\n").unwrap();
    std::fs::write(wt.path.join("c.txt"), "c\n").unwrap();
    let err = repo
        .commit_attempt(&wt, "T-9: add c", &author())
        .unwrap_err();
    assert!(matches!(err, GitError::HeadMoved { .. }), "{err}");
    assert!(land(&repo, &wt).is_err());
    assert_eq!(git(repo.root(), &["rev-parse", "main"]), main_before);

    // A worktree git never registered is not ours at all.
    let stranger = Worktree {
        path: tmp.path().join("wt/T-10"),
        ..wt.clone()
    };
    std::fs::create_dir_all(&stranger.path).unwrap();
    let err = repo.worktree_git(&stranger).unwrap_err();
    assert!(matches!(err, GitError::NotOurWorktree(_)), "{err}");
}

#[test]
fn a_detached_helper_checkout_holds_no_branch_and_a_note_advances_the_branch_only_from_where_it_was()
 {
    let tmp = init_repo(&[("a.txt", "a\n")]);
    let path = repo_path(&tmp);
    let repo = Repo::open(&path).unwrap();
    git(&path, &["branch", "harness/T-3", "main"]);
    let start = git(&path, &["rev-parse", "harness/T-3"]);
    let at = tmp.path().join("wt/.helpers/T-3");
    let wt = repo.checkout_detached(&at, "harness/T-3", "main").unwrap();
    assert_eq!(wt.branch, start, "the checkout is of the commit");
    assert_eq!(git(&at, &["rev-parse", "--abbrev-ref", "HEAD"]), "HEAD");
    // The branch is free for the next attempt to reset, checkout or not.
    git(&path, &["branch", "-f", "harness/T-3", "main"]);

    std::fs::write(at.join("note.md"), "n\n").unwrap();
    let sha = repo
        .commit_attempt(&wt, "note", &author())
        .unwrap()
        .expect("a commit");
    repo.advance_branch("harness/T-3", &start, &sha).unwrap();
    assert_eq!(git(&path, &["rev-parse", "harness/T-3"]), sha);
    // Not from a commit the branch has left.
    assert!(repo.advance_branch("harness/T-3", &start, &start).is_err());
    assert_eq!(git(&path, &["rev-parse", "harness/T-3"]), sha);

    // A stale checkout left at the path (a crash) is replaced.
    let again = repo.checkout_detached(&at, "harness/T-3", "main").unwrap();
    assert_eq!(again.branch, sha);
    assert!(at.join("note.md").exists());
}
