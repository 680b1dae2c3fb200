// Pure helpers for patching cached lists in place, shared by the live-update patcher and
// by mutations (which write the server's answer the same way the WebSocket would).
import type { InfiniteData } from '@tanstack/react-query';
import type { SessionFilters, TaskFilters } from './query-keys';
import type { Session, Task } from './types';

/** What the patcher reads of a page (TaskPage, SessionPage): its items and the list's total. */
interface ListPage<T> { items: T[]; total: number }

/** A paged list as react-query caches it, e.g. `Paged<TaskPage>`. */
export type Paged<P extends ListPage<unknown>> = InfiniteData<P>;

export function taskMatches(t: Task, f: TaskFilters): boolean {
  if (f.status && t.status !== f.status) return false;
  if (f.priority && t.priority !== f.priority) return false;
  if (f.category && t.category !== f.category) return false;
  if (f.agent && t.assigned_agent !== f.agent) return false;
  if (f.q) {
    // As the server searches: text in the title (any case), or the exact display id.
    const q = f.q.trim().toLowerCase();
    if (!t.title.toLowerCase().includes(q) && t.display_id.toLowerCase() !== q) return false;
  }
  return true;
}

export function sessionMatches(s: Session, f: SessionFilters): boolean {
  if (f.task_id !== undefined && s.task_id !== f.task_id) return false;
  if (f.agent_id && s.agent_id !== f.agent_id) return false;
  if (f.status && s.status !== f.status) return false;
  return true;
}

/** The server's order for tasks: priority, then oldest first, then id. */
export const taskOrder = (a: Task, b: Task) =>
  a.priority.localeCompare(b.priority) || a.created_at.localeCompare(b.created_at) || a.id - b.id;

/** The server's order for sessions: newest first. */
export const sessionOrder = (a: Session, b: Session) => b.id - a.id;

/**
 * Replace, insert or remove one item across the pages of a cached list, keeping the
 * server's order. A new item that sorts after everything loaded so far, while more pages
 * remain, is not inserted: it arrives with the page that holds it. Totals always follow.
 */
export function patchPaged<T extends { id: number }, P extends ListPage<T>>(
  data: Paged<P> | undefined,
  id: number,
  item: T | null,
  belongs: boolean,
  order: (a: T, b: T) => number,
): Paged<P> | undefined {
  if (!data || data.pages.length === 0) return data;
  const keep = item !== null && belongs;
  const present = data.pages.some((p) => p.items.some((x) => x.id === id));
  if (!present && !keep) return data;
  let pages = data.pages.map((p) => (present ? { ...p, items: p.items.filter((x) => x.id !== id) } : p));
  const delta = present === keep ? 0 : keep ? 1 : -1;
  if (keep) {
    let placed = false;
    pages = pages.map((p) => {
      if (placed) return p;
      const at = p.items.findIndex((x) => order(item, x) < 0);
      if (at < 0) return p;
      placed = true;
      return { ...p, items: [...p.items.slice(0, at), item, ...p.items.slice(at)] };
    });
    // Everything but this item is loaded: it belongs at the very end.
    const othersLoaded = pages.reduce((n, p) => n + p.items.length, 0);
    const othersTotal = (data.pages[0]?.total ?? 0) - (present ? 1 : 0);
    if (!placed && othersLoaded >= othersTotal) {
      const last = pages.length - 1;
      pages[last] = { ...pages[last]!, items: [...pages[last]!.items, item] };
    }
  }
  return { ...data, pages: pages.map((p) => ({ ...p, total: p.total + delta })) };
}

