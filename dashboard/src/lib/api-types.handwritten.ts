// TEMPORARY: hand-written from /work/api-contract.md until `harness openapi` exists on main.
// Delete this file once `npm run gen:api` produces src/lib/api-types.ts; src/lib/types.ts is
// the only importer, so the switch is one file.

export type TaskStatus = 'pending' | 'in_progress' | 'verifying' | 'completed' | 'failed' | 'blocked' | 'cancelled';
export type Priority = 'P0' | 'P1' | 'P2' | 'P3' | 'P4';

export interface Task {
  id: number;
  display_id: string;
  title: string;
  description: string;
  category: string;
  priority: Priority;
  status: TaskStatus;
  pass_criteria: string[];
  depends_on: number[];
  assigned_agent: string | null;
  attempts: number;
  max_attempts: number;
  diagnosis: string | null;
  /** Pending human question; arrives with the engine. */
  question?: string | null;
  created_at: string;
  updated_at: string;
}

export interface Page<T> { items: T[]; total: number; limit: number; offset: number }
export interface Items<T> { items: T[] }

export interface CreateTask {
  title: string;
  description?: string;
  category?: string;
  priority?: Priority;
  pass_criteria?: string[];
  depends_on?: (number | string)[];
  max_attempts?: number;
}
export type UpdateTask = Partial<Omit<CreateTask, 'max_attempts'>>;

export interface TaskTransition {
  id: number;
  task_id: number;
  from_status: TaskStatus | null;
  to_status: TaskStatus;
  reason: string;
  actor: string;
  at: string;
}

export interface Agent {
  id: string;
  name: string;
  role: string;
  model: string;
  runtime: 'anthropic' | 'cli';
  max_concurrency: number;
  enabled: boolean;
  status: 'idle' | 'working' | 'error' | 'disabled' | 'unconfigured';
  status_reason: string | null;
  last_heartbeat: string | null;
  created_at: string;
  updated_at: string;
}
export interface UpdateAgent { enabled?: boolean; model?: string; max_concurrency?: number }

export type SessionStatus = 'running' | 'succeeded' | 'failed' | 'cancelled' | 'interrupted';
export interface Session {
  id: number;
  task_id: number;
  agent_id: string;
  model: string;
  status: SessionStatus;
  started_at: string;
  ended_at: string | null;
  exit_reason: string | null;
  input_tokens: number;
  output_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  cost_usd: number;
}

export type LogKind = 'text' | 'tool_call' | 'tool_result' | 'output' | 'system' | 'commit' | 'diff';
export interface LogLine { session_id: number; seq: number; at: string; kind: LogKind; content: string }

export interface HarnessEvent {
  id: number;
  type: string;
  severity: 'info' | 'warning' | 'error';
  task_id: number | null;
  agent_id: string | null;
  session_id: number | null;
  message: string;
  payload: Record<string, unknown>;
  at: string;
}

export interface OrchestratorStatus {
  paused: boolean;
  version: string;
  started_at: string;
  task_counts: Partial<Record<TaskStatus, number>>;
}

export interface Usage { cost_usd: number; input_tokens: number; output_tokens: number }
export interface Limits { daily_usd: number | null; monthly_usd: number | null; daily_tokens: number | null; monthly_tokens: number | null }
export interface Budget {
  today: Usage;
  month: Usage;
  limits: Limits;
  percent_used: Limits;
  exceeded: boolean;
  per_agent: (Usage & { key: string })[];
  per_model: (Usage & { key: string })[];
  daily: (Usage & { date: string })[];
}

export interface AuthStatus { auth_required: boolean; authenticated: boolean }
export interface ApiErrorBody { error: { code: string; message: string; field?: string | null } }
