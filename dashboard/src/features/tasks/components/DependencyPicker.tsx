// Picks dependencies from existing tasks by searching the server, so it works at 10,000
// tasks without loading them all.
import { useId, useState } from 'react';
import { ErrorMessage } from '@/components/ErrorMessage';
import { useDebounced } from '@/lib/use-debounced';
import { useSearchTasks } from '../api/search-tasks';

export interface PickedTask {
  id: number;
  label: string;
}

interface Props {
  value: PickedTask[];
  onChange: (next: PickedTask[]) => void;
  excludeId?: number;
}

export function DependencyPicker({ value, onChange, excludeId }: Props) {
  const [q, setQ] = useState('');
  const search = useSearchTasks(useDebounced(q, 200));
  const inputId = useId();
  const picked = new Set(value.map((p) => p.id));
  const results = (search.data?.items ?? []).filter((t) => t.id !== excludeId);
  return (
    <fieldset className="dep-picker">
      <legend>Depends on</legend>
      {value.length > 0 ? (
        <ul className="chips" aria-label="Selected dependencies">
          {value.map((p) => (
            <li key={p.id} className="chip">
              {p.label}
              <button type="button" aria-label={`Remove dependency ${p.label}`} onClick={() => onChange(value.filter((x) => x.id !== p.id))}>
                ×
              </button>
            </li>
          ))}
        </ul>
      ) : (
        <p className="muted">None</p>
      )}
      <label htmlFor={inputId}>Find a task to depend on</label>
      <input id={inputId} type="search" value={q} onChange={(e) => setQ(e.target.value)} placeholder="Title or T-id" />
      <ErrorMessage error={search.error} />
      <ul className="dep-results" aria-label="Matching tasks">
        {results.map((t) => {
          const label = `${t.display_id} ${t.title}`;
          return (
            <li key={t.id}>
              <label>
                <input
                  type="checkbox"
                  checked={picked.has(t.id)}
                  onChange={(e) => onChange(e.target.checked ? [...value, { id: t.id, label }] : value.filter((x) => x.id !== t.id))}
                />
                {label} <span className="muted">({t.status.replace('_', ' ')})</span>
              </label>
            </li>
          );
        })}
      </ul>
    </fieldset>
  );
}
