// Search and filters live in the URL so a filtered board can be shared and survives reload.
import { PRIORITIES } from '@/lib/types';
import type { TaskFilters as Filters } from '@/lib/query-keys';

interface Props {
  value: Filters;
  onChange: (next: Filters) => void;
}

export function TaskFilters({ value, onChange }: Props) {
  const set = (k: keyof Filters) => (e: { target: { value: string } }) => onChange({ ...value, [k]: e.target.value || undefined });
  return (
    <form className="filters" role="search" onSubmit={(e) => e.preventDefault()}>
      <label>
        Search
        <input type="search" value={value.q ?? ''} onChange={set('q')} placeholder="Title text or T-id" />
      </label>
      <label>
        Priority
        <select value={value.priority ?? ''} onChange={set('priority')}>
          <option value="">Any</option>
          {PRIORITIES.map((p) => (
            <option key={p}>{p}</option>
          ))}
        </select>
      </label>
      <label>
        Category
        <input value={value.category ?? ''} onChange={set('category')} placeholder="any" size={10} />
      </label>
      <label>
        Agent
        <input value={value.agent ?? ''} onChange={set('agent')} placeholder="any" size={10} />
      </label>
    </form>
  );
}
