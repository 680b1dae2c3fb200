// Applies WebSocket messages to the react-query cache in place (setQueryData), so a live
// update never triggers a refetch storm. Only data the message cannot carry (a task's
// transition history, the orchestrator's task counts) is refetched, and only if on screen.
import type { QueryClient, QueryKey } from '@tanstack/react-query';
import { keys, type EventFilters, type SessionFilters } from '@/lib/query-keys';
import { patchPaged, sessionMatches, sessionOrder, type Paged } from '@/lib/cache-patch';
import { applyTask } from '@/lib/task-cache';
import { applyComment, dropComment } from '@/lib/comment-cache';
import { PROPOSAL_EVENTS, type Agent, type AgentList, type EventList, type EventType, type HarnessEvent, type LogLine, type Session, type SessionLogs, type SessionPage, type WsMessage } from '@/lib/types';

/** Events kept in a live feed; older ones scroll off. */
export const EVENT_FEED_CAP = 2000;
/** Lines one open session log keeps in memory; past it the oldest are dropped. */
export const SESSION_LOG_CAP = 200_000;

function filtersOf<F>(key: QueryKey): F {
  return (key[2] ?? {}) as F;
}

function applySession(qc: QueryClient, s: Session) {
  for (const [key] of qc.getQueriesData<Paged<SessionPage>>({ queryKey: keys.sessionLists })) {
    const belongs = sessionMatches(s, filtersOf<SessionFilters>(key));
    qc.setQueryData<Paged<SessionPage>>(key, (d) => patchPaged(d, s.id, s, belongs, sessionOrder));
  }
  if (qc.getQueryData(keys.session(s.id))) qc.setQueryData(keys.session(s.id), s);
}

function applyLogLines(qc: QueryClient, lines: LogLine[]) {
  const bySession = new Map<number, LogLine[]>();
  for (const l of lines) bySession.set(l.session_id, [...(bySession.get(l.session_id) ?? []), l]);
  for (const [sid, batch] of bySession) {
    qc.setQueryData<SessionLogs>(keys.sessionLogs(sid), (d) => {
      if (!d) return d; // Not being viewed: the view fetches from the server when opened.
      const last = d.items.at(-1)?.seq ?? -1;
      const fresh = batch.filter((l) => l.seq > last);
      if (!fresh.length) return d;
      const items = d.items.concat(fresh);
      return { items: items.length > SESSION_LOG_CAP ? items.slice(-SESSION_LOG_CAP) : items };
    });
  }
}

function applyEvents(qc: QueryClient, events: HarnessEvent[]) {
  // Proposals and estimates have no live message of their own: their events say when
  // to fetch them again.
  if (events.some((e) => PROPOSAL_EVENTS.has(e.type))) void qc.invalidateQueries({ queryKey: keys.proposals });
  for (const e of events) if (e.type === ('task.estimated' satisfies EventType) && e.task_id != null) void qc.invalidateQueries({ queryKey: keys.taskEstimate(e.task_id) });
  for (const [key] of qc.getQueriesData<EventList>({ queryKey: keys.eventLists })) {
    const f = filtersOf<EventFilters>(key);
    const fresh = events.filter((e) => !f.type || e.type === f.type); // The server filters by exact type too.
    if (!fresh.length) continue;
    qc.setQueryData<EventList>(key, (d) => {
      if (!d) return d;
      const last = d.items.at(-1)?.id ?? -1;
      const items = d.items.concat(fresh.filter((e) => e.id > last));
      return { items: items.length > EVENT_FEED_CAP ? items.slice(-EVENT_FEED_CAP) : items };
    });
  }
}

function applyAgent(qc: QueryClient, a: Agent) {
  qc.setQueryData<AgentList>(keys.agents, (d) => {
    if (!d) return d;
    const i = d.items.findIndex((x) => x.id === a.id);
    return { items: i >= 0 ? d.items.map((x) => (x.id === a.id ? a : x)) : [...d.items, a] };
  });
}

/**
 * Applies a batch of messages. Consecutive log lines and events are applied together so a
 * fast stream costs one cache write per batch, not one per line.
 * Returns whether task statuses may have changed (the caller refreshes counts, throttled).
 */
export function applyLiveMessages(qc: QueryClient, msgs: WsMessage[]): { tasksChanged: boolean } {
  let tasksChanged = false;
  const logs: LogLine[] = [];
  const events: HarnessEvent[] = [];
  const flush = () => {
    if (logs.length) applyLogLines(qc, logs.splice(0));
    if (events.length) applyEvents(qc, events.splice(0));
  };
  for (const m of msgs) {
    if (m.type === 'session.log') {
      logs.push(m.data);
      continue;
    }
    if (m.type === 'event.created') {
      events.push(m.data);
      // A finding is listed only on its task's page: refetch that list.
      if (m.data.type === ('finding.reported' satisfies EventType) && m.data.task_id != null) {
        void qc.invalidateQueries({ queryKey: keys.taskFindings(m.data.task_id) });
      }
      continue;
    }
    flush();
    switch (m.type) {
      case 'resync':
        void qc.invalidateQueries();
        break;
      case 'task.created':
      case 'task.updated':
        applyTask(qc, m.data, m.data.id);
        tasksChanged = true;
        break;
      case 'task.deleted':
        applyTask(qc, null, m.data.id);
        tasksChanged = true;
        break;
      case 'agent.updated':
        applyAgent(qc, m.data);
        break;
      case 'session.created':
      case 'session.updated':
        applySession(qc, m.data);
        break;
      case 'orchestrator.updated':
        qc.setQueryData(keys.orchestrator, m.data);
        break;
      case 'budget.updated':
        qc.setQueryData(keys.budget, m.data);
        break;
      case 'comment.changed':
        applyComment(qc, m.data);
        break;
      case 'comment.deleted':
        dropComment(qc, m.data.task_id, m.data.id);
        break;
      case 'hello':
        break;
    }
  }
  flush();
  return { tasksChanged };
}
