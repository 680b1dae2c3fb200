// Sessions as a table; used on the Sessions page, in a task's detail and on the Overview.
import { TaskRef } from './TaskRef';
import { Link } from 'react-router';
import { ErrorMessage } from '@/components/ErrorMessage';
import { StatusBadge } from '@/components/StatusBadge';
import { durationBetween, formatTokens, formatUsd } from '@/lib/format';
import { useNow } from '@/lib/use-now';
import type { SessionFilters } from '@/lib/query-keys';
import { useSessions } from '../api/get-sessions';

export function SessionTable({ filters, caption }: { filters: SessionFilters; caption: string }) {
  const q = useSessions(filters);
  const rows = q.data?.pages.flatMap((p) => p.items) ?? [];
  const total = q.data?.pages[0]?.total ?? 0;
  const now = useNow(1000, rows.some((s) => s.status === 'running'));
  return (
    <div className="table-wrap">
      <ErrorMessage error={q.error} />
      <table>
        <caption className="sr-only">{caption}</caption>
        <thead>
          <tr>
            <th scope="col">Session</th>
            <th scope="col">Status</th>
            <th scope="col">Agent</th>
            <th scope="col">Task</th>
            <th scope="col">Duration</th>
            <th scope="col">Tokens in/out</th>
            <th scope="col">Cost</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((s) => (
            <tr key={s.id}>
              <td><Link to={`/sessions/${s.id}`}>#{s.id}</Link></td>
              <td><StatusBadge status={s.status} /></td>
              <td>{s.agent_id}</td>
              <td><TaskRef taskId={s.task_id} /></td>
              <td>{durationBetween(s.started_at, s.ended_at, now)}</td>
              <td>{formatTokens(s.input_tokens)} / {formatTokens(s.output_tokens)}</td>
              <td>{formatUsd(s.cost_usd)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {q.isSuccess && rows.length === 0 ? <p className="muted">No sessions.</p> : null}
      {q.hasNextPage ? (
        <button type="button" onClick={() => void q.fetchNextPage()} disabled={q.isFetchingNextPage}>
          Load more ({rows.length} of {total})
        </button>
      ) : null}
    </div>
  );
}
