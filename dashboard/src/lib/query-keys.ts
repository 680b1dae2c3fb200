// Query keys shared by the features (which read them) and the live-update patcher in
// src/app (which writes them). Filters are part of the key so a patch can tell whether
// a pushed item belongs in a cached list.

import type { operations } from './api-types';

// Filters are the list endpoints' own query parameters, so they go to the server as they are.
type Query<Op extends keyof operations> = NonNullable<operations[Op]['parameters']['query']>;
export type TaskFilters = Pick<Query<'list_tasks'>, 'status' | 'priority' | 'category' | 'agent' | 'q'>;
export type SessionFilters = Pick<Query<'list_sessions'>, 'task_id' | 'agent_id' | 'status'>;
export type EventFilters = Pick<Query<'list_events'>, 'type'>;

export const keys = {
  all: [] as const,
  auth: ['auth', 'status'] as const,
  tasks: ['tasks'] as const,
  taskLists: ['tasks', 'list'] as const,
  taskList: (f: TaskFilters) => ['tasks', 'list', f] as const,
  task: (id: number | string) => ['tasks', 'detail', String(id)] as const,
  taskHistory: (id: number | string) => ['tasks', 'history', String(id)] as const,
  taskDependents: (id: number | string) => ['tasks', 'dependents', String(id)] as const,
  taskFindings: (id: number | string) => ['tasks', 'findings', String(id)] as const,
  taskSearch: (q: string) => ['tasks', 'search', q] as const,
  taskEstimate: (id: number | string) => ['tasks', 'estimate', String(id)] as const,
  taskDiff: (id: number | string) => ['tasks', 'diff', String(id)] as const,
  taskComments: (id: number | string) => ['tasks', 'comments', String(id)] as const,
  agents: ['agents', 'list'] as const,
  runtimes: ['agents', 'runtimes'] as const,
  roles: ['roles', 'list'] as const,
  proposals: ['proposals', 'list'] as const,
  sessionLists: ['sessions', 'list'] as const,
  sessionList: (f: SessionFilters) => ['sessions', 'list', f] as const,
  session: (id: number | string) => ['sessions', 'detail', String(id)] as const,
  sessionLogs: (id: number | string) => ['sessions', 'logs', String(id)] as const,
  eventLists: ['events', 'list'] as const,
  eventList: (f: EventFilters) => ['events', 'list', f] as const,
  orchestrator: ['orchestrator', 'status'] as const,
  budget: ['budget'] as const,
  telegram: ['telegram', 'status'] as const,
  settings: ['settings'] as const,
};
