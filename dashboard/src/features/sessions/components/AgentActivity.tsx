// "Working on task N for 4m" for one agent, read from the shared list of running sessions
// (one request for all agent cards, kept live by the WebSocket).
import { TaskRef } from './TaskRef';
import { Link } from 'react-router';
import { durationBetween } from '@/lib/format';
import { useNow } from '@/lib/use-now';
import { useSessions } from '../api/get-sessions';

export function AgentActivity({ agentId }: { agentId: string }) {
  const running = useSessions({ status: 'running' });
  const mine = running.data?.pages.flatMap((p) => p.items).filter((s) => s.agent_id === agentId) ?? [];
  const now = useNow(1000, mine.length > 0);
  if (mine.length === 0) return <div className="muted small">No running session</div>;
  return (
    <ul className="small plain">
      {mine.map((s) => (
        <li key={s.id}>
          <TaskRef taskId={s.task_id} /> · <Link to={`/sessions/${s.id}`}>session #{s.id}</Link> · {durationBetween(s.started_at, null, now)}
        </li>
      ))}
    </ul>
  );
}
