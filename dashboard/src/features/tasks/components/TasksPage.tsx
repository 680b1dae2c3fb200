import { useState, type ReactNode } from 'react';
import { useSearchParams } from 'react-router';
import type { TaskFilters as Filters } from '@/lib/query-keys';
import { oneOf, PRIORITIES } from '@/lib/types';
import { useDebounced } from '@/lib/use-debounced';
import { KanbanBoard } from './KanbanBoard';
import { TaskFilters } from './TaskFilters';
import { TaskFormDialog } from './TaskFormDialog';

const FILTER_KEYS = ['q', 'priority', 'category', 'agent'] as const;
const TEXT_KEYS = ['q', 'category', 'agent'] as const;

/** `banner`: shown above the board (the orchestrator's paused state, from another feature via src/app). */
export function TasksPage({ banner }: { banner?: ReactNode }) {
  const [params, setParams] = useSearchParams();
  const [creating, setCreating] = useState(false);
  const filters: Filters = {};
  for (const k of TEXT_KEYS) {
    const v = params.get(k);
    if (v) filters[k] = v;
  }
  // A hand-edited ?priority=P9 is ignored rather than sent (the server would refuse it).
  const priority = oneOf(PRIORITIES, params.get('priority'));
  if (priority) filters.priority = priority;
  // Typing in the search box should not fire one request per keystroke per column.
  const debounced = useDebounced(filters, 250);
  const onChange = (next: Filters) => {
    const p = new URLSearchParams();
    for (const k of FILTER_KEYS) if (next[k]) p.set(k, next[k]);
    setParams(p, { replace: true });
  };
  return (
    <div className="page page-wide">
      <header className="page-header">
        <h1>Tasks</h1>
        <button type="button" className="primary" onClick={() => setCreating(true)}>
          New task
        </button>
      </header>
      {banner}
      <TaskFilters value={filters} onChange={onChange} />
      <KanbanBoard filters={debounced} />
      <TaskFormDialog open={creating} onOpenChange={setCreating} />
    </div>
  );
}
