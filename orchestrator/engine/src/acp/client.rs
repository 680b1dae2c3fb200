//! The harness as an ACP client over one agent's stdin and stdout: initialize, open a
//! session in the worktree, send the prompt, and until the turn ends, log the agent's
//! updates, answer its permission requests by the role's tools (never a person's
//! prompt), and serve its file reads and writes inside the worktree.
//!
//! Handlers run in the connection's dispatch loop, which holds no borrow of the
//! session; they hand what the log needs to [`talk`]'s caller through a bounded channel.

use std::{path::Path, sync::Arc};

use agent_client_protocol::{
    Client, Lines,
    schema::ProtocolVersion,
    v1::schema::{
        CancelNotification, ClientCapabilities, ContentBlock, FileSystemCapabilities,
        InitializeRequest, NewSessionRequest, PermissionOptionKind, PromptRequest,
        ReadTextFileRequest, ReadTextFileResponse, RequestPermissionOutcome,
        RequestPermissionRequest, RequestPermissionResponse, SelectedPermissionOutcome,
        SessionNotification, SessionUpdate, StopReason, TextContent, ToolKind,
        WriteTextFileRequest, WriteTextFileResponse,
    },
};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::{
    io::{AsyncRead, AsyncWrite},
    sync::mpsc,
};
use tokio_util::{
    codec::{FramedRead, FramedWrite, LinesCodec},
    sync::CancellationToken,
};

use crate::{
    process::Pipes,
    session::LogKind,
    tools::{ToolSet, Workspace},
};

/// Longest JSON-RPC line taken from an agent; a longer one ends the session.
const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;
/// Notes queued between the dispatch loop and the session log.
pub(crate) const NOTE_QUEUE: usize = 1024;

/// What the dispatch loop hands on to the session log.
#[derive(Debug)]
pub(crate) enum Note {
    Update(Box<SessionUpdate>),
    Log(LogKind, String),
}

/// How the turn ended.
#[derive(Debug)]
pub(crate) struct Ending {
    pub stop: Result<StopReason, String>,
    /// The agent's name and version, from its `initialize` answer.
    pub agent: Option<String>,
    pub usage: Option<crate::session::Usage>,
}

/// What the conversation needs besides the pipes.
pub(crate) struct Talk {
    pub workspace: Workspace,
    pub tools: ToolSet,
    pub prompt: String,
    pub cancel: CancellationToken,
}

/// Runs one prompt turn to its end over the agent's pipes. Notes for the log go to
/// `notes` as they come.
pub(crate) async fn talk(pipes: Pipes, talk: Talk, notes: mpsc::Sender<Note>) -> Ending {
    talk_over(pipes.stdin, pipes.stdout, talk, notes).await
}

/// [`talk`] over any byte streams.
async fn talk_over(
    stdin: impl AsyncWrite + Send + Unpin + 'static,
    stdout: impl AsyncRead + Send + Unpin + 'static,
    talk: Talk,
    notes: mpsc::Sender<Note>,
) -> Ending {
    let outgoing = SinkExt::<String>::sink_map_err(
        FramedWrite::new(stdin, LinesCodec::new()),
        std::io::Error::other,
    );
    let incoming = FramedRead::new(stdout, LinesCodec::new_with_max_length(MAX_LINE_BYTES))
        .map(|line| line.map_err(std::io::Error::other));
    let handlers = Arc::new(Handlers {
        workspace: talk.workspace,
        tools: talk.tools,
        notes,
    });
    let mut agent = None;
    let stop = run(
        Lines::new(outgoing, incoming),
        handlers,
        &talk.prompt,
        &talk.cancel,
        &mut agent,
    )
    .await;
    let (stop, usage) = match stop {
        Ok((stop, usage)) => (Ok(stop), usage),
        Err(e) => (Err(e), None),
    };
    Ending { stop, agent, usage }
}

async fn run(
    transport: impl agent_client_protocol::ConnectTo<Client> + 'static,
    handlers: Arc<Handlers>,
    prompt: &str,
    cancel: &CancellationToken,
    agent: &mut Option<String>,
) -> Result<(StopReason, Option<crate::session::Usage>), String> {
    let (on_update, on_permission, on_read, on_write) = (
        handlers.clone(),
        handlers.clone(),
        handlers.clone(),
        handlers.clone(),
    );
    Client
        .v1()
        .name("parent-harness")
        .on_receive_notification(
            async move |n: SessionNotification, _cx| {
                on_update.note(Note::Update(Box::new(n.update))).await;
                Ok(())
            },
            agent_client_protocol::on_receive_notification!(),
        )
        .on_receive_request(
            async move |request: RequestPermissionRequest, responder, _cx| {
                let answer = on_permission.permission(&request).await;
                responder.respond(answer)
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |request: ReadTextFileRequest, responder, _cx| match on_read.read(&request) {
                Ok(content) => responder.respond(ReadTextFileResponse::new(content)),
                Err(message) => responder.respond_with_error(file_error(message)),
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |request: WriteTextFileRequest, responder, _cx| match on_write
                .write(&request)
                .await
            {
                Ok(()) => responder.respond(WriteTextFileResponse::new()),
                Err(message) => responder.respond_with_error(file_error(message)),
            },
            agent_client_protocol::on_receive_request!(),
        )
        .connect_with(transport, async |cx| {
            let capabilities = ClientCapabilities::new()
                .fs(FileSystemCapabilities::new()
                    .read_text_file(true)
                    .write_text_file(true))
                .terminal(false);
            let init = cx
                .send_request(
                    InitializeRequest::new(ProtocolVersion::V1).client_capabilities(capabilities),
                )
                .block_task()
                .await?;
            *agent = init
                .agent_info
                .map(|info| format!("{} {}", info.name, info.version));
            let worktree = handlers.workspace.root().path().to_path_buf();
            let session = cx
                .send_request(NewSessionRequest::new(worktree))
                .block_task()
                .await?;
            let turn = cx
                .send_request(PromptRequest::new(
                    session.session_id.clone(),
                    vec![ContentBlock::Text(TextContent::new(prompt))],
                ))
                .block_task();
            tokio::pin!(turn);
            let response = tokio::select! {
                response = &mut turn => response?,
                () = cancel.cancelled() => {
                    // The agent must answer the turn with `cancelled`; the process
                    // layer kills it if it does not within its grace period.
                    cx.send_notification(CancelNotification::new(session.session_id))?;
                    turn.await?
                }
            };
            let usage = response.usage.map(|u| crate::session::Usage {
                input_tokens: u.input_tokens,
                output_tokens: u.output_tokens,
                cache_creation_input_tokens: u.cached_write_tokens.unwrap_or(0),
                cache_read_input_tokens: u.cached_read_tokens.unwrap_or(0),
            });
            Ok((response.stop_reason, usage))
        })
        .await
        .map_err(|e| format!("the ACP conversation failed: {e}"))
}

/// The agent's name and version from an `initialize` handshake, and nothing else: what
/// the Agents page shows of an ACP agent.
pub(crate) async fn introduce(pipes: Pipes) -> Result<String, String> {
    let outgoing = SinkExt::<String>::sink_map_err(
        FramedWrite::new(pipes.stdin, LinesCodec::new()),
        std::io::Error::other,
    );
    let incoming = FramedRead::new(
        pipes.stdout,
        LinesCodec::new_with_max_length(MAX_LINE_BYTES),
    )
    .map(|line| line.map_err(std::io::Error::other));
    Client
        .v1()
        .name("parent-harness")
        .connect_with(Lines::new(outgoing, incoming), async |cx| {
            let init = cx
                .send_request(InitializeRequest::new(ProtocolVersion::V1))
                .block_task()
                .await?;
            Ok(init
                .agent_info
                .map(|info| format!("{} {}", info.name, info.version))
                .unwrap_or_else(|| "an ACP agent that does not say its version".into()))
        })
        .await
        .map_err(|e| format!("the ACP handshake failed: {e}"))
}

fn file_error(message: String) -> agent_client_protocol::Error {
    agent_client_protocol::Error::invalid_params().data(json!({ "reason": message }))
}

/// What the handlers share.
struct Handlers {
    workspace: Workspace,
    tools: ToolSet,
    notes: mpsc::Sender<Note>,
}

impl Handlers {
    async fn note(&self, note: Note) {
        // The receiver goes only when the session is over: nothing is left to log.
        let _ = self.notes.send(note).await;
    }

    /// Allows what the role's own tools would allow, once; refuses the rest.
    async fn permission(&self, request: &RequestPermissionRequest) -> RequestPermissionResponse {
        let kind = request.tool_call.fields.kind.unwrap_or_default();
        let title = request.tool_call.fields.title.clone().unwrap_or_default();
        let allowed = match kind {
            ToolKind::Edit | ToolKind::Delete | ToolKind::Move => self.tools.allows("write_file"),
            ToolKind::Execute => self.tools.allows("run_command"),
            _ => true,
        };
        let wanted: &[PermissionOptionKind] = if allowed {
            &[
                PermissionOptionKind::AllowOnce,
                PermissionOptionKind::AllowAlways,
            ]
        } else {
            &[
                PermissionOptionKind::RejectOnce,
                PermissionOptionKind::RejectAlways,
            ]
        };
        let choice = wanted.iter().find_map(|wanted| {
            request
                .options
                .iter()
                .find(|option| option.kind == *wanted)
                .map(|option| option.option_id.clone())
        });
        if !allowed {
            self.note(Note::Log(
                LogKind::System,
                format!("refused the agent's `{title}`: its role may not {kind:?} here"),
            ))
            .await;
        }
        let outcome = match choice {
            Some(id) => RequestPermissionOutcome::Selected(SelectedPermissionOutcome::new(id)),
            None => RequestPermissionOutcome::Cancelled,
        };
        RequestPermissionResponse::new(outcome)
    }

    /// `fs/read_text_file`: the file tools' read, inside the worktree (`line` is 1-based).
    fn read(&self, request: &ReadTextFileRequest) -> Result<String, String> {
        let mut input = json!({ "path": path_text(&request.path) });
        if let Some(line) = request.line {
            input["offset"] = json!(line.saturating_sub(1));
        }
        if let Some(limit) = request.limit {
            input["limit"] = json!(limit);
        }
        let outcome = self.workspace.dispatch_blocking("read_file", &input);
        if outcome.is_error {
            return Err(outcome.content);
        }
        Ok(outcome.content)
    }

    /// `fs/write_text_file`: the file tools' write, for a role that may write.
    async fn write(&self, request: &WriteTextFileRequest) -> Result<(), String> {
        let path = path_text(&request.path);
        if !self.tools.allows("write_file") {
            let refusal = format!("{path}: this role may not write files");
            self.note(Note::Log(
                LogKind::System,
                format!("refused a write to {refusal}"),
            ))
            .await;
            return Err(refusal);
        }
        let input = json!({ "path": path, "content": request.content });
        let outcome = self.workspace.dispatch_blocking("write_file", &input);
        if outcome.is_error {
            return Err(outcome.content);
        }
        self.note(Note::Log(
            LogKind::ToolCall,
            json!({"name": "fs/write_text_file", "input": {"path": path, "bytes": request.content.len()}})
                .to_string(),
        ))
        .await;
        Ok(())
    }
}

fn path_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    /// The agent's side of the pipes, speaking JSON-RPC lines.
    struct Peer {
        lines: tokio::io::Lines<BufReader<tokio::io::ReadHalf<tokio::io::DuplexStream>>>,
        out: tokio::io::WriteHalf<tokio::io::DuplexStream>,
    }

    impl Peer {
        async fn send(&mut self, message: Value) {
            let line = format!("{message}\n");
            self.out.write_all(line.as_bytes()).await.unwrap();
        }

        async fn next(&mut self) -> Value {
            let line = self.lines.next_line().await.unwrap().expect("a message");
            serde_json::from_str(&line).unwrap()
        }

        /// Answers the client's requests until the one named `method`, which it returns.
        async fn until(&mut self, method: &str) -> Value {
            loop {
                let message = self.next().await;
                if message["method"] == method {
                    return message;
                }
            }
        }

        /// Sends a request and returns the client's answer to it.
        async fn ask(&mut self, id: u64, method: &str, params: Value) -> Value {
            self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
                .await;
            loop {
                let message = self.next().await;
                if message["id"] == id && message.get("method").is_none() {
                    return message;
                }
            }
        }
    }

    async fn start(tools: ToolSet) -> (tempfile::TempDir, Peer, tokio::task::JoinHandle<Ending>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "one\ntwo\nthree\n").unwrap();
        let root = crate::confine::WorktreeRoot::new(dir.path()).unwrap();
        let (client_end, agent_end) = tokio::io::duplex(64 * 1024);
        let (client_read, client_write) = tokio::io::split(client_end);
        let (agent_read, agent_write) = tokio::io::split(agent_end);
        let (notes, mut notes_rx) = mpsc::channel(16);
        tokio::spawn(async move { while notes_rx.recv().await.is_some() {} });
        let talk = Talk {
            workspace: Workspace::new(root, crate::tools::ToolLimits::default()),
            tools,
            prompt: "do it".into(),
            cancel: CancellationToken::new(),
        };
        let ending = tokio::spawn(talk_over(client_write, client_read, talk, notes));
        let mut peer = Peer {
            lines: BufReader::new(agent_read).lines(),
            out: agent_write,
        };
        let init = peer.until("initialize").await;
        assert_eq!(
            init["params"]["clientCapabilities"]["fs"]["writeTextFile"],
            true
        );
        peer.send(json!({"jsonrpc": "2.0", "id": init["id"], "result": {"protocolVersion": 1}}))
            .await;
        let new = peer.until("session/new").await;
        assert_eq!(new["params"]["cwd"], dir.path().to_str().unwrap());
        peer.send(json!({"jsonrpc": "2.0", "id": new["id"], "result": {"sessionId": "s1"}}))
            .await;
        (dir, peer, ending)
    }

    async fn end_turn(peer: &mut Peer, prompt: &Value) {
        peer.send(
            json!({"jsonrpc": "2.0", "id": prompt["id"], "result": {"stopReason": "end_turn"}}),
        )
        .await;
    }

    #[tokio::test]
    async fn file_requests_are_served_inside_the_worktree_and_nowhere_else() {
        let (dir, mut peer, ending) = start(ToolSet::full()).await;
        let prompt = peer.until("session/prompt").await;
        let root = dir.path().display().to_string();

        let read = peer
            .ask(
                100,
                "fs/read_text_file",
                json!({"sessionId": "s1", "path": format!("{root}/a.txt"), "line": 2, "limit": 1}),
            )
            .await;
        assert_eq!(read["result"]["content"], "two\n", "{read}");
        for outside in ["/etc/passwd", &format!("{root}/../../etc/passwd")] {
            let refused = peer
                .ask(
                    101,
                    "fs/read_text_file",
                    json!({"sessionId": "s1", "path": outside}),
                )
                .await;
            assert!(refused["error"].is_object(), "{outside}: {refused}");
        }
        std::os::unix::fs::symlink("/etc", dir.path().join("etc")).unwrap();
        let through_link = peer
            .ask(
                102,
                "fs/read_text_file",
                json!({"sessionId": "s1", "path": format!("{root}/etc/passwd")}),
            )
            .await;
        assert!(through_link["error"].is_object(), "{through_link}");

        let wrote = peer
            .ask(
                103,
                "fs/write_text_file",
                json!({"sessionId": "s1", "path": format!("{root}/new/b.txt"), "content": "hi"}),
            )
            .await;
        assert!(wrote["error"].is_null(), "{wrote}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("new/b.txt")).unwrap(),
            "hi"
        );
        let into_git = peer
            .ask(
                104,
                "fs/write_text_file",
                json!({"sessionId": "s1", "path": format!("{root}/.git/config"), "content": "x"}),
            )
            .await;
        assert!(into_git["error"].is_object(), "{into_git}");

        end_turn(&mut peer, &prompt).await;
        let ending = ending.await.unwrap();
        assert!(matches!(ending.stop, Ok(StopReason::EndTurn)), "{ending:?}");
    }

    #[tokio::test]
    async fn a_read_only_role_may_read_but_its_writes_and_edits_are_refused() {
        let (dir, mut peer, ending) = start(ToolSet::read_only()).await;
        let prompt = peer.until("session/prompt").await;
        let root = dir.path().display().to_string();
        let wrote = peer
            .ask(
                100,
                "fs/write_text_file",
                json!({"sessionId": "s1", "path": format!("{root}/b.txt"), "content": "hi"}),
            )
            .await;
        assert!(wrote["error"].is_object(), "{wrote}");
        assert!(!dir.path().join("b.txt").exists());

        let options = json!([
            {"optionId": "yes", "name": "Allow", "kind": "allow_once"},
            {"optionId": "no", "name": "Reject", "kind": "reject_once"}
        ]);
        let edit = peer
            .ask(101, "session/request_permission", json!({"sessionId": "s1",
                "toolCall": {"toolCallId": "t1", "title": "Edit", "kind": "edit"}, "options": options}))
            .await;
        assert_eq!(edit["result"]["outcome"]["optionId"], "no", "{edit}");
        let read = peer
            .ask(102, "session/request_permission", json!({"sessionId": "s1",
                "toolCall": {"toolCallId": "t2", "title": "Read", "kind": "read"}, "options": options}))
            .await;
        assert_eq!(read["result"]["outcome"]["optionId"], "yes", "{read}");

        end_turn(&mut peer, &prompt).await;
        assert!(ending.await.unwrap().stop.is_ok());
    }

    #[tokio::test]
    async fn a_line_past_the_limit_ends_the_conversation_with_an_error() {
        let (_dir, mut peer, ending) = start(ToolSet::full()).await;
        peer.until("session/prompt").await;
        let huge = "x".repeat(MAX_LINE_BYTES + 1);
        peer.out.write_all(huge.as_bytes()).await.unwrap();
        peer.out.write_all(b"\n").await.unwrap();
        let ending = tokio::time::timeout(std::time::Duration::from_secs(20), ending)
            .await
            .expect("the conversation ends")
            .unwrap();
        assert!(ending.stop.is_err(), "{ending:?}");
    }
}
