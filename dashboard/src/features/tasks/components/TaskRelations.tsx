// The two lists on the task page that have their own queries: tasks depending on this
// one, and every status transition.
import { Link } from 'react-router';
import { ErrorMessage } from '@/components/ErrorMessage';
import { StatusBadge } from '@/components/StatusBadge';
import { formatTime } from '@/lib/format';
import type { Task } from '@/lib/types';
import { useTaskDependents } from '../api/get-task-dependents';
import { useTaskHistory } from '../api/get-task-history';

export function TaskLink({ task }: { task: Task }) {
  return (
    <Link to={`/tasks/${task.id}`}>
      {task.display_id} {task.title} <StatusBadge status={task.status} />
    </Link>
  );
}

export function Dependents({ taskId }: { taskId: number }) {
  const q = useTaskDependents(taskId);
  return (
    <>
      <h3>Depended on by</h3>
      <ErrorMessage error={q.error} />
      {q.data?.items.length === 0 ? <p className="muted">Nothing.</p> : null}
      <ul>{q.data?.items.map((t) => <li key={t.id}><TaskLink task={t} /></li>)}</ul>
    </>
  );
}

export function History({ taskId }: { taskId: number }) {
  const q = useTaskHistory(taskId);
  return (
    <section aria-labelledby="hist-h" className="card">
      <h2 id="hist-h">History</h2>
      <ErrorMessage error={q.error} />
      <div className="table-wrap">
        <table>
          <thead>
            <tr><th scope="col">When</th><th scope="col">From</th><th scope="col">To</th><th scope="col">By</th><th scope="col">Reason</th></tr>
          </thead>
          <tbody>
            {q.data?.items.map((h) => (
              <tr key={h.id}>
                <td>{formatTime(h.at)}</td>
                <td>{h.from_status ? <StatusBadge status={h.from_status} /> : '—'}</td>
                <td><StatusBadge status={h.to_status} /></td>
                <td>{h.actor}</td>
                <td>{h.reason}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
