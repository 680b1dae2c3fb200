// "T-1 · Title" as a link to the task, for pages of other features that only hold the id
// (handed to them as a slot from src/app). Until the task loads it reads "T-1".
import { Link } from 'react-router';
import { useTask } from '../api/get-task';

export function TaskTitleLink({ taskId }: { taskId: number }) {
  const task = useTask(taskId);
  const t = task.data;
  return (
    <Link to={`/tasks/${taskId}`} className="task-title-link">
      {t ? `${t.display_id} · ${t.title}` : `T-${taskId}`}
    </Link>
  );
}
