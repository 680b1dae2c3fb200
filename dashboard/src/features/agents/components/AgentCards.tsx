// Compact agent status for the Overview: what each agent is doing and for how long.
import { ErrorMessage } from '@/components/ErrorMessage';
import { StatusBadge } from '@/components/StatusBadge';
import type { Agent } from '@/lib/types';
import { useAgents } from '../api/get-agents';

interface Props {
  /** What the agent is working on, supplied by the caller (sessions live in another feature). */
  renderActivity?: (agent: Agent) => React.ReactNode;
}

export function AgentCards({ renderActivity }: Props) {
  const agents = useAgents();
  return (
    <>
      <ErrorMessage error={agents.error} />
      <ul className="agent-cards" aria-label="Agents">
        {agents.data?.items.map((a) => (
          <li key={a.id} className="card agent-card">
            <div className="agent-card-top">
              <strong>{a.name}</strong>
              <StatusBadge status={a.status} />
            </div>
            <div className="muted small">
              {a.role} · {a.model}
            </div>
            {a.status_reason ? <div className="small">{a.status_reason}</div> : null}
            {renderActivity?.(a)}
          </li>
        ))}
      </ul>
      {agents.isSuccess && agents.data.items.length === 0 ? <p className="muted">No agents configured.</p> : null}
    </>
  );
}
