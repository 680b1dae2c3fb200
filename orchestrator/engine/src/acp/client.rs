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
use tokio::sync::mpsc;
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

/// Runs one prompt turn to its end. Notes for the log go to `notes` as they come.
pub(crate) async fn talk(pipes: Pipes, talk: Talk, notes: mpsc::Sender<Note>) -> Ending {
    let Pipes { stdin, stdout } = pipes;
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
