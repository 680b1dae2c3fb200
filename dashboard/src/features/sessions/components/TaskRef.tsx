import { Link } from 'react-router';

/** A link to a session's task by its display id; some sessions (e.g. planning) have none. */
export function TaskRef({ taskId }: { taskId?: number | null }) {
  return taskId == null ? <span className="muted">no task</span> : <Link to={`/tasks/${taskId}`}>T-{taskId}</Link>;
}
