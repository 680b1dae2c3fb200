//! The Anthropic `tools` array: each tool's name, description and JSON input schema, as
//! the model sees them. The Rust shapes these schemas describe live in [`super::args`].

use serde_json::{Value, json};

use harness_domain::{
    finding::NewFinding,
    task::{Priority, Title},
};

/// The Anthropic `tools` array for the workspace tools.
pub fn workspace_tool_definitions() -> Vec<Value> {
    vec![
        tool(
            "read_file",
            "Read a UTF-8 text file in the worktree. Paths are relative to the worktree root. Large files are truncated; use offset/limit (in lines) to page.",
            json!({"type":"object","properties":{
                "path":{"type":"string","description":"File path relative to the worktree root"},
                "offset":{"type":"integer","minimum":0,"description":"First line to return (0-based)"},
                "limit":{"type":"integer","minimum":1,"description":"Number of lines to return"}
            },"required":["path"]}),
        ),
        tool(
            "write_file",
            "Create or overwrite a file in the worktree with the given content. Parent directories are created.",
            json!({"type":"object","properties":{
                "path":{"type":"string"},
                "content":{"type":"string"}
            },"required":["path","content"]}),
        ),
        tool(
            "edit_file",
            "Replace one exact occurrence of old_string with new_string in a file. old_string must match exactly once; include surrounding lines to make it unique.",
            json!({"type":"object","properties":{
                "path":{"type":"string"},
                "old_string":{"type":"string"},
                "new_string":{"type":"string"}
            },"required":["path","old_string","new_string"]}),
        ),
        tool(
            "list_dir",
            "List a directory in the worktree. Directories end with '/'.",
            json!({"type":"object","properties":{
                "path":{"type":"string","description":"Directory relative to the worktree root; default '.'"}
            }}),
        ),
        tool(
            "search",
            "Search file contents with a regular expression (Rust regex syntax), respecting .gitignore. Returns path:line: text.",
            json!({"type":"object","properties":{
                "pattern":{"type":"string"},
                "path":{"type":"string","description":"Directory to search; default '.'"},
                "max_results":{"type":"integer","minimum":1}
            },"required":["pattern"]}),
        ),
        tool(
            "run_command",
            "Run a shell command (sh -c) in the worktree root. Returns the exit code and the tail of stdout+stderr; the command and everything it started are killed when it returns or at the timeout. To keep a server running (for the browser, or for later commands to reach on 127.0.0.1), pass background: true: the call returns after a few seconds with its first output, and it runs until the session ends (4 at most at once).",
            json!({"type":"object","properties":{
                "command":{"type":"string"},
                "timeout_secs":{"type":"integer","minimum":1},
                "background":{"type":"boolean","description":"Keep it running until the session ends (a server, a database); timeout_secs does not apply"}
            },"required":["command"]}),
        ),
    ]
}

/// The Anthropic `tools` array for the harness tools. `create_task` only for planners.
pub fn harness_tool_definitions(allow_create_task: bool) -> Vec<Value> {
    let mut tools = vec![
        tool(
            "complete_task",
            "Call when the task is done and the pass criteria are met. The harness then commits your changes and runs the verification commands.",
            json!({"type":"object","properties":{
                "summary":{"type":"string","description":"What you changed and why"},
                "no_changes_needed":{"type":"string","description":"Only when you changed nothing: why the task needed no change (the pass criteria already hold). Without it, finishing a build task with no change fails the attempt."}
            },"required":["summary"]}),
        ),
        tool(
            "fail_task",
            "Call when the task cannot be done. Explain why, so the next attempt or a human can act.",
            json!({"type":"object","properties":{"reason":{"type":"string"}},"required":["reason"]}),
        ),
        tool(
            "ask_human",
            "Ask a human a question and wait for the answer. Use only when you cannot proceed without it.",
            json!({"type":"object","properties":{"question":{"type":"string"}},"required":["question"]}),
        ),
    ];
    if allow_create_task {
        tools.push(tool(
            "create_task",
            "Create a subtask on the board. Returns its id, which later tasks can list in depends_on.",
            json!({"type":"object","properties":{
                "title":{"type":"string","maxLength":Title::MAX_CHARS},
                "description":{"type":"string"},
                "priority":{"type":"string","enum":Priority::ALL.map(Priority::as_str)},
                "depends_on":{"type":"array","items":{"type":"string"},"description":"Ids like T-12"}
            },"required":["title"]}),
        ));
    }
    tools
}

/// The Anthropic `tools` array of the `browser` group, with `report_finding`.
pub(crate) fn browser_tool_definitions() -> Vec<Value> {
    let selector = json!({"type":"string","description":"CSS selector; the first match is used"});
    vec![
        tool(
            "browser_open",
            "Open a URL in the headless browser (started on first use). Only loopback URLs (http://127.0.0.1:PORT, http://localhost:PORT, http://[::1]:PORT) and the origins your role or task allows can be opened; start the app with run_command first.",
            json!({"type":"object","properties":{"url":{"type":"string"}},"required":["url"]}),
        ),
        tool(
            "browser_click",
            "Click the element matching a CSS selector, as a mouse click in its centre.",
            json!({"type":"object","properties":{"selector":selector},"required":["selector"]}),
        ),
        tool(
            "browser_type",
            "Click the element matching a CSS selector, then type text into it as key presses.",
            json!({"type":"object","properties":{"selector":selector,"text":{"type":"string"}},"required":["selector","text"]}),
        ),
        tool(
            "browser_read",
            "Read the current page: its URL, title, visible text and accessibility tree (roles and names), each cut to a bounded size.",
            json!({"type":"object","properties":{}}),
        ),
        tool(
            "browser_screenshot",
            "Take a PNG screenshot of the viewport. You see the image; its id (like shot-1) can be attached to report_finding.",
            json!({"type":"object","properties":{}}),
        ),
        tool(
            "browser_console",
            "Read the page's console messages and uncaught errors since the browser started (the newest, bounded).",
            json!({"type":"object","properties":{}}),
        ),
        tool(
            "report_finding",
            "Report something that failed for a person using the product: stored on the task, shown to people with its screenshot.",
            json!({"type":"object","properties":{
                "title":{"type":"string","maxLength":NewFinding::MAX_TITLE_CHARS},
                "detail":{"type":"string","maxLength":NewFinding::MAX_DETAIL_CHARS,"description":"What you did, what you expected, what happened"},
                "persona":{"type":"string","maxLength":NewFinding::MAX_PERSONA_CHARS,"description":"Who you were simulating"},
                "screenshot":{"type":"string","description":"Id of a screenshot taken in this session, like shot-1"}
            },"required":["title","detail","persona"]}),
        ),
    ]
}

fn tool(name: &str, description: &str, input_schema: Value) -> Value {
    json!({"name": name, "description": description, "input_schema": input_schema})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_definitions_have_name_description_and_schema() {
        let all: Vec<Value> = workspace_tool_definitions()
            .into_iter()
            .chain(harness_tool_definitions(true))
            .collect();
        assert_eq!(all.len(), 10);
        for t in &all {
            assert!(t["name"].is_string() && t["description"].is_string());
            assert_eq!(t["input_schema"]["type"], "object");
        }
    }

    #[test]
    fn the_browser_group_has_six_tools_and_report_finding() {
        let names: Vec<String> = browser_tool_definitions()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(names, super::super::BROWSER_TOOLS);
        let finding = &browser_tool_definitions()[6]["input_schema"]["properties"];
        assert_eq!(finding["title"]["maxLength"], 200);
    }

    #[test]
    fn the_create_task_schema_states_the_domain_limits() {
        let tools = harness_tool_definitions(true);
        let schema = &tools[3]["input_schema"]["properties"];
        assert_eq!(schema["title"]["maxLength"], 200);
        assert_eq!(
            schema["priority"]["enum"],
            json!(["P0", "P1", "P2", "P3", "P4"])
        );
    }
}
