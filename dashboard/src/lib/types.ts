// The API's types as the rest of the app sees them: aliases of the schemas generated from
// the server's OpenAPI document (api-types.ts, `npm run gen:api`). Nothing here restates
// a field the server already describes.
import type { components } from './api-types';

type S = components['schemas'];

export type Task = S['Task'];
export type TaskStatus = S['TaskStatus'];
export type Priority = S['Priority'];
export type CreateTask = S['CreateTaskRequest'];
export type UpdateTask = S['UpdateTaskRequest'];
export type Agent = S['Agent'];
export type RuntimeState = S['RuntimeView'];
export type UpdateAgent = S['UpdateAgentRequest'];
export type Session = S['Session'];
export type SessionStatus = S['SessionStatus'];
export type LogLine = S['LogLine'];
export type LogKind = S['LogKind'];
export type HarnessEvent = S['Event'];
/** Every operations event the server records, typed from Rust's `Operation` enum. */
export type Operation = S['Operation'];
export type EventType = Operation['type'];

/**
 * Every event type, once: a `Record` over the generated union, so a type added to or
 * removed from the server fails the type check here until this list follows.
 */
const EVENT_TYPE_SET: Record<EventType, true> = {
  'task.created': true, 'task.status_changed': true, 'task.deleted': true, 'task.answered': true,
  'task.failed': true, 'task.question': true, 'task.waiting_to_land': true, 'task.blocked': true,
  'task.estimated': true, 'investigation.waiting': true, 'helper.waiting': true,
  'validation.rejected': true, 'proposal.created': true, 'proposal.accepted': true,
  'proposal.rejected': true, 'finding.reported': true, 'agent.updated': true,
  'session.stopped': true, 'session.interrupted': true, 'orchestrator.paused': true,
  'orchestrator.resumed': true, 'orchestrator.recovered': true, 'orchestrator.stopped': true,
  'budget.exceeded': true, 'ratelimit.paused': true, 'ratelimit.resumed': true,
  'worktree.leftover': true, 'task.review_requested': true, 'task.reviewed': true, 'task.message': true,
  'task.pull_request': true, 'task.pull_request_problem': true,
};
export const EVENT_TYPES = Object.keys(EVENT_TYPE_SET) as EventType[];

/** Events whose type says proposals changed. */
export const PROPOSAL_EVENTS: ReadonlySet<string> = new Set<EventType>([
  'proposal.created', 'proposal.accepted', 'proposal.rejected',
]);
export type Budget = S['BudgetReport'];
export type TelegramStatus = S['TelegramStatus'];
export type ApiErrorBody = S['ErrorBody'];
export type Role = S['RoleView'];
export type Proposal = S['Proposal'];
export type MarkSize = S['MarkSizeRequest'];
export type Settings = S['SettingsSummary'];
export type Outcome = S['Outcome'];
export type LandPolicy = S['LandPolicy'];
export type TaskDiff = S['TaskDiff'];
export type DiffFile = S['DiffFile'];
export type ReviewComment = S['ReviewComment'];
export type ReviewCommentList = S['CommentList'];
export type CommentSide = S['Side'];
export type CreateComment = S['CreateCommentRequest'];
export type UpdateComment = S['UpdateCommentRequest'];
export type ReviewAction = S['ReviewAction'];
export type ReviewRequest = S['ReviewRequest'];

// The list envelopes, as the caches that live updates patch hold them.
export type TaskPage = S['TaskPage'];
export type SessionPage = S['SessionPage'];
export type TaskList = S['TaskList'];
export type AgentList = S['AgentList'];
export type ProposalList = S['ProposalList'];
export type EventList = S['EventList'];
export type SessionLogs = S['SessionLogs'];

export const TASK_STATUSES = ['pending', 'in_progress', 'verifying', 'review', 'blocked', 'failed', 'completed', 'cancelled'] as const satisfies readonly TaskStatus[];
export const PRIORITIES = ['P0', 'P1', 'P2', 'P3', 'P4'] as const satisfies readonly Priority[];
export const SESSION_STATUSES = ['running', 'succeeded', 'failed', 'cancelled', 'interrupted'] as const satisfies readonly SessionStatus[];

/** Narrows a free string (a URL parameter, a select's value) to one of `values`, or undefined. */
export function oneOf<T extends string>(values: readonly T[], v: string | null | undefined): T | undefined {
  return values.find((x) => x === v);
}

/**
 * A frame on /ws: `{type, seq, data}` with `seq` strictly increasing. Generated from the
 * server's `LiveFrame` (Rust `live::LiveKind`), so `npm run check:api` fails when the
 * server adds, renames or reshapes a message and this union has not followed.
 */
export type WsMessage = S['LiveFrame'];
