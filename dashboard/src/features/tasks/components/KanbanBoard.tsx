import { TASK_STATUSES } from '../../../lib/types';
import type { TaskFilters } from '../../../lib/query-keys';
import { KanbanColumn } from './KanbanColumn';

export function KanbanBoard({ filters }: { filters: TaskFilters }) {
  return (
    <div className="kanban" role="region" aria-label="Task board">
      {TASK_STATUSES.map((s) => (
        <KanbanColumn key={s} status={s} filters={filters} />
      ))}
    </div>
  );
}
