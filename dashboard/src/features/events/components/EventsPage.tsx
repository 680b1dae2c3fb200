import { useSearchParams } from 'react-router';
import { EventFeed } from './EventFeed';

const TYPES = ['task.created', 'task.updated', 'task.deleted', 'agent.updated', 'session.created', 'session.updated', 'orchestrator.updated'];

export function EventsPage() {
  const [params, setParams] = useSearchParams();
  const type = params.get('type') ?? '';
  const severity = params.get('severity') ?? '';
  const set = (k: string, v: string) => {
    const p = new URLSearchParams(params);
    if (v) p.set(k, v);
    else p.delete(k);
    setParams(p, { replace: true });
  };
  return (
    <div className="page">
      <header className="page-header">
        <h1>Events</h1>
      </header>
      <form className="filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          Type (exact)
          <input value={type} onChange={(e) => set('type', e.target.value)} list="event-types" placeholder="e.g. task.created" />
          <datalist id="event-types">{TYPES.map((t) => <option key={t} value={t} />)}</datalist>
        </label>
        <label>
          Severity
          <select value={severity} onChange={(e) => set('severity', e.target.value)}>
            <option value="">Any</option>
            <option>info</option>
            <option>warning</option>
            <option>error</option>
          </select>
        </label>
      </form>
      <EventFeed filters={{ type: type || undefined }} severity={severity || undefined} height={600} />
    </div>
  );
}
