// The API's types as the rest of the app sees them. Today they come from a temporary
// hand-written file; once `harness openapi` lands they are aliases of the generated
// `components['schemas']` in api-types.ts, and nothing else changes.
export type * from './api-types.handwritten';
import type { Task, Session, LogLine, Agent, HarnessEvent, OrchestratorStatus, Budget } from './api-types.handwritten';

export const TASK_STATUSES = ['pending', 'in_progress', 'verifying', 'blocked', 'failed', 'completed', 'cancelled'] as const;
export const PRIORITIES = ['P0', 'P1', 'P2', 'P3', 'P4'] as const;

/** A frame on /ws: `{type, seq, data}` with `seq` strictly increasing. */
export type WsMessage =
  | { type: 'hello'; seq: number; data: { server_time: string } }
  | { type: 'resync'; seq: number; data: { reason: string } }
  | { type: 'task.created' | 'task.updated'; seq: number; data: Task }
  | { type: 'task.deleted'; seq: number; data: { id: number; display_id: string } }
  | { type: 'agent.updated'; seq: number; data: Agent }
  | { type: 'session.created' | 'session.updated'; seq: number; data: Session }
  | { type: 'session.log'; seq: number; data: LogLine }
  | { type: 'event.created'; seq: number; data: HarnessEvent }
  | { type: 'orchestrator.updated'; seq: number; data: OrchestratorStatus }
  | { type: 'budget.updated'; seq: number; data: Budget };
