import { Link } from 'react-router';
import type { Task } from '../../../lib/types';

export function TaskCard({ task }: { task: Task }) {
  return (
    <Link to={`/tasks/${task.id}`} className="task-card" aria-label={`${task.display_id} ${task.title}`}>
      <span className="task-card-top">
        <span className="mono muted">{task.display_id}</span>
        <span className="prio" data-priority={task.priority}>{task.priority}</span>
      </span>
      <span className="task-card-title">{task.title}</span>
      <span className="task-card-meta muted">
        {task.category}
        {task.assigned_agent ? ` · ${task.assigned_agent}` : ''}
        {task.attempts > 0 ? ` · attempt ${task.attempts}/${task.max_attempts}` : ''}
        {task.question && !task.answer ? ' · needs answer' : ''}
      </span>
    </Link>
  );
}
