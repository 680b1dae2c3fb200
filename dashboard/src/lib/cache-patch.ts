// Pure helpers for patching cached lists in place, shared by the live-update patcher and
// by mutations (which write the server's answer the same way the WebSocket would).
import type { InfiniteData } from '@tanstack/react-query';
import type { SessionFilters, TaskFilters } from './query-keys';
import type { Page, Session, Task } from './types';

export type Paged<T> = InfiniteData<Page<T>>;

export function taskMatches(t: Task, f: TaskFilters): boolean {
  if (f.status && t.status !== f.status) return false;
  if (f.priority && t.priority !== f.priority) return false;
  if (f.category && t.category !== f.category) return false;
  if (f.agent && t.assigned_agent !== f.agent) return false;
  if (f.q) {
    const q = f.q.toLowerCase();
    const hay = `${t.display_id} ${t.title} ${t.description}`.toLowerCase();
    if (!hay.includes(q)) return false;
  }
  return true;
}

export function sessionMatches(s: Session, f: SessionFilters): boolean {
  if (f.task_id !== undefined && s.task_id !== f.task_id) return false;
  if (f.agent_id && s.agent_id !== f.agent_id) return false;
  if (f.status && s.status !== f.status) return false;
  return true;
}

/** Replace, insert (at the top) or remove one item across the pages of a cached list. */
export function patchPaged<T extends { id: number }>(data: Paged<T> | undefined, id: number, item: T | null, belongs: boolean): Paged<T> | undefined {
  if (!data || data.pages.length === 0) return data;
  let found = false;
  const pages = data.pages.map((p) => {
    const idx = p.items.findIndex((x) => x.id === id);
    if (idx < 0) return p;
    found = true;
    const items = p.items.slice();
    if (item && belongs) items[idx] = item;
    else items.splice(idx, 1);
    return { ...p, items };
  });
  if (found) {
    const delta = item && belongs ? 0 : -1;
    return { ...data, pages: pages.map((p) => ({ ...p, total: p.total + delta })) };
  }
  if (!item || !belongs) return data;
  const [first, ...rest] = pages as [Page<T>, ...Page<T>[]];
  return {
    ...data,
    pages: [{ ...first, items: [item, ...first.items] }, ...rest].map((p) => ({ ...p, total: p.total + 1 })),
  };
}

