// What a reviewer weighs besides the diff: the task's attempts with their commits and
// verification output, and what the task has cost so far. Read from the same cached
// sessions list as the task page's Sessions table (no second fetch); live updates keep it.
import { Link } from 'react-router';
import { ErrorMessage } from '@/components/ErrorMessage';
import { StatusBadge } from '@/components/StatusBadge';
import { formatUsd, tidyFailure } from '@/lib/format';
import { useSessions } from '../api/get-sessions';

export function AttemptSummary({ taskId }: { taskId: number }) {
  const q = useSessions({ task_id: taskId });
  const sessions = q.data?.pages.flatMap((p) => p.items) ?? [];
  const attempts = sessions.filter((s) => s.purpose === 'attempt');
  const cost = sessions.reduce((n, s) => n + s.cost_usd, 0);
  if (q.isError) return <ErrorMessage error={q.error} title="Sessions" />;
  if (!q.isSuccess) return null;
  return (
    <div className="attempt-summary">
      <p className="small">
        {attempts.length} attempt{attempts.length === 1 ? '' : 's'}; {formatUsd(cost)} spent on {sessions.length} session{sessions.length === 1 ? '' : 's'}
        {q.hasNextPage ? ' loaded so far' : ''}.
      </p>
      {attempts.length ? (
        <ul className="plain attempt-list">
          {attempts.map((s) => (
            <li key={s.id}>
              <Link to={`/sessions/${s.id}`}>#{s.id}</Link> <StatusBadge status={s.status} />{' '}
              {s.commit_sha ? <span className="mono" title={s.commit_sha}>{s.commit_sha.slice(0, 7)}</span> : <span className="muted">no commit</span>}{' '}
              <span className="muted">{formatUsd(s.cost_usd)}</span>
              {s.verify_output ? (
                <details>
                  <summary className="small">Verification output</summary>
                  <pre className="log-pre">{tidyFailure(s.verify_output)}</pre>
                </details>
              ) : null}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}
