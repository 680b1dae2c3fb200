//! The roles that ship with the binary: the spec's team. `task` and `orchestrator`
//! are not roles here: the scheduler itself routes tasks and decides who runs when.

use std::collections::BTreeSet;

use super::{Job, Role, RoleName, Tool};
use crate::agent::Concurrency;

struct Builtin {
    name: &'static str,
    description: &'static str,
    job: Job,
    tools: &'static [Tool],
    read_only: bool,
    /// Finishing without changing the repository fails the attempt (see [`Role`]).
    requires_changes: bool,
    categories: &'static [&'static str],
    concurrency: i64,
    prompt: &'static str,
}

const WORKSPACE: &[Tool] = &Tool::WORKSPACE;
const READ_ONLY: &[Tool] = &Tool::READ_ONLY;

const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "build",
        description: "implements features, fixes and refactors",
        job: Job::Tasks,
        tools: WORKSPACE,
        read_only: false,
        requires_changes: true,
        categories: &["feature", "bug", "refactor", "test", "chore"],
        concurrency: 4,
        prompt: "You are a build agent. Implement the task in the repository: write the code and the \
             tests it needs, and run the project's checks with run_command before you finish.",
    },
    Builtin {
        name: "spec",
        description: "writes specifications and documentation",
        job: Job::Tasks,
        tools: WORKSPACE,
        read_only: false,
        requires_changes: false,
        categories: &["docs", "spec"],
        concurrency: 2,
        prompt: "You are a spec agent. Write or update the specification and documentation the task \
             asks for, precise enough that another engineer can build from it.",
    },
    Builtin {
        name: "qa",
        description: "checks work against its pass criteria",
        job: Job::Tasks,
        tools: WORKSPACE,
        read_only: false,
        requires_changes: false,
        categories: &["qa", "review"],
        concurrency: 2,
        prompt: "You are a QA agent. Check the work against the task's pass criteria by reading the \
             code and running its tests. Complete only if every criterion is met; otherwise fail \
             with the reasons.",
    },
    Builtin {
        name: "research",
        description: "investigates a question and writes findings",
        job: Job::Tasks,
        tools: WORKSPACE,
        read_only: false,
        requires_changes: false,
        categories: &["research"],
        concurrency: 2,
        prompt: "You are a research agent. Investigate the question in the task using the repository, \
             and write your findings to a Markdown file under docs/research/.",
    },
    Builtin {
        name: "planning",
        description: "decomposes a large task into subtasks with dependencies",
        job: Job::Tasks,
        tools: &[
            Tool::ReadFile,
            Tool::WriteFile,
            Tool::EditFile,
            Tool::ListDir,
            Tool::Search,
            Tool::RunCommand,
            Tool::CreateTask,
        ],
        read_only: false,
        requires_changes: false,
        categories: &["planning", "epic"],
        concurrency: 1,
        prompt: "You are a planning agent. Split the task into small, independently verifiable \
             subtasks with create_task, with dependencies where order matters.",
    },
    Builtin {
        name: "clarification",
        description: "works out what a task really asks, asking people when needed",
        job: Job::Tasks,
        tools: WORKSPACE,
        read_only: false,
        requires_changes: false,
        categories: &["question"],
        concurrency: 1,
        prompt: "You are a clarification agent. Work out what the task really asks for; use \
             ask_human for what only a person can answer, then record the clarified requirements \
             in the task's docs.",
    },
    Builtin {
        name: "human-sim",
        description: "uses the product as a person would, in a browser, and reports what failed",
        job: Job::Tasks,
        tools: &[
            Tool::ReadFile,
            Tool::WriteFile,
            Tool::ListDir,
            Tool::Search,
            Tool::RunCommand,
            Tool::Browser,
        ],
        read_only: false,
        requires_changes: false,
        categories: &["usability"],
        concurrency: 1,
        prompt: "You are a human simulator. Start the app in the worktree with run_command and \
             background: true (it keeps running until the session ends), open it with browser_open and use it the way the persona in the \
             task (or, when the task gives none, a first-time user) would: read the page with \
             browser_read, click and type. For each thing that goes wrong for that person, take a \
             screenshot with browser_screenshot and call report_finding with a title, what you \
             did, what you expected and what happened, the persona, and the screenshot's id: \
             findings are stored on the task and shown to people. Do not change the code. Then \
             call complete_task with a one-line summary (how many findings); fail only if the \
             app cannot be started.",
    },
    Builtin {
        name: "investigator",
        description: "diagnoses a task that failed every attempt",
        job: Job::Investigate,
        tools: READ_ONLY,
        read_only: true,
        requires_changes: false,
        categories: &[],
        concurrency: 1,
        prompt: "You are an investigator. A task failed every attempt and is blocked. Read its \
             failure output and the worktree, find the root cause, and call complete_task with a \
             short diagnosis and the fix you recommend. Do not change any file.",
    },
    Builtin {
        name: "evaluator",
        description: "estimates a task's size before its first attempt",
        job: Job::Estimate,
        tools: READ_ONLY,
        read_only: true,
        requires_changes: false,
        categories: &[],
        concurrency: 1,
        prompt: "You are an evaluator. Estimate how large the task is by reading the repository \
             parts it touches. Call complete_task with a summary whose first word is small, \
             medium or large, then one line saying why. small: one file, under an hour of work. \
             medium: a few files. large: many files, a new module, or a design decision. Do not \
             change any file.",
    },
    Builtin {
        name: "architect",
        description: "writes a design note for a large task before it is built",
        job: Job::Design,
        tools: &[Tool::ReadFile, Tool::WriteFile, Tool::ListDir, Tool::Search],
        read_only: false,
        requires_changes: false,
        categories: &[],
        concurrency: 1,
        prompt: "You are an architect. The task is large. Read the code it touches and write a \
             short design note: the modules to change, the types and interfaces, the order of the \
             work and the risks. Write it with write_file to the path given in the task, change \
             nothing else, and call complete_task with a one-line summary.",
    },
    Builtin {
        name: "validation",
        description: "reviews a verified diff against the pass criteria before it is merged",
        job: Job::Validate,
        tools: READ_ONLY,
        read_only: true,
        requires_changes: false,
        categories: &[],
        concurrency: 2,
        prompt: "You are a validation agent. The task's change passed its automated checks. Review \
             the diff below and the code around it against every pass criterion. Call \
             complete_task if each criterion is met; otherwise call fail_task with the reasons, \
             one per line, each naming the criterion and the file. Do not change any file.",
    },
    Builtin {
        name: "sia",
        description: "reviews the board, proposes tasks and arbitrates repeated rejections",
        job: Job::Ideate,
        tools: &[
            Tool::ReadFile,
            Tool::ListDir,
            Tool::Search,
            Tool::CreateTask,
        ],
        read_only: true,
        requires_changes: false,
        categories: &[],
        concurrency: 1,
        prompt: "You are the strategic ideation agent (SIA). Review the board summary below and the \
             repository. Propose at most five tasks with create_task that would unblock work or \
             address what keeps failing; each proposal waits for a person to accept it. Then \
             call complete_task with a short assessment. Do not change any file.",
    },
];

pub(super) fn roles() -> Vec<Role> {
    BUILTINS
        .iter()
        .map(|b| Role {
            name: RoleName::builtin(b.name),
            description: b.description.to_owned(),
            prompt: b.prompt.to_owned(),
            tools: b.tools.iter().copied().collect(),
            read_only: b.read_only,
            requires_changes: b.requires_changes,
            runtime: None,
            fallback: Vec::new(),
            model: None,
            categories: b
                .categories
                .iter()
                .map(|c| (*c).to_owned())
                .collect::<BTreeSet<_>>(),
            concurrency: Concurrency::parse(b.concurrency).expect("built-in concurrency is valid"),
            job: b.job,
            browser_origins: Vec::new(),
            egress: Vec::new(),
            land: crate::review::LandPolicy::Auto,
            builtin: true,
        })
        .collect()
}
