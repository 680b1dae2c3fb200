import { EVENT_TYPES } from '@/lib/types';
import { useUrlParams } from '@/lib/use-url-param';
import { EventFeed } from './EventFeed';


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
          <datalist id="event-types">{EVENT_TYPES.map((t) => <option key={t} value={t} />)}</datalist>
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
