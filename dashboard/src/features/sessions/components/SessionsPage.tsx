import { oneOf, SESSION_STATUSES } from '@/lib/types';
import { useUrlParams } from '@/lib/use-url-param';
import { SessionTable } from './SessionTable';

export function SessionsPage() {
  const { get, set } = useUrlParams();
  const status = get('status');
  const agent = get('agent');
  return (
    <div className="page">
      <header className="page-header">
        <h1>Sessions</h1>
      </header>
      <form className="filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          Status
          <select value={status} onChange={(e) => set('status', e.target.value)}>
            <option value="">Any</option>
            {SESSION_STATUSES.map((s) => <option key={s}>{s}</option>)}
          </select>
        </label>
        <label>
          Agent
          <input value={agent} onChange={(e) => set('agent', e.target.value)} placeholder="any" size={12} />
        </label>
      </form>
      <SessionTable filters={{ status: oneOf(SESSION_STATUSES, status), agent_id: agent || undefined }} caption="Sessions" />
    </div>
  );
}
