import { useUrlParams } from '@/lib/use-url-param';
import { EventFeed } from './EventFeed';

// Suggestions for the type filter: the event types the orchestrator records.
const TYPES = [
  'task.created', 'task.status_changed', 'task.failed', 'task.blocked', 'task.question', 'task.answered',
  'task.deleted', 'agent.updated', 'session.interrupted', 'budget.exceeded', 'orchestrator.paused',
  'orchestrator.resumed', 'orchestrator.recovered', 'worktree.leftover',
];

export function EventsPage() {
  const { get, set } = useUrlParams();
  const type = get('type');
  const severity = get('severity');
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
