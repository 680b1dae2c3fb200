import { useState } from 'react';
import * as Switch from '@radix-ui/react-switch';
import { ErrorMessage } from '@/components/ErrorMessage';
import { StatusBadge } from '@/components/StatusBadge';
import { formatTime } from '@/lib/format';
import { useAgents } from '../api/get-agents';
import { useUpdateAgent } from '../api/update-agent';
import type { Agent } from '@/lib/types';
import { AgentEditDialog } from './AgentEditDialog';
import { RuntimesTable } from './RuntimesTable';

export function AgentsPage() {
  const agents = useAgents();
  const update = useUpdateAgent();
  const [editing, setEditing] = useState<Agent | null>(null);
  return (
    <div className="page">
      <header className="page-header">
        <h1>Agents</h1>
      </header>
      <ErrorMessage error={agents.error} />
      <ErrorMessage error={update.error} title="Could not update the agent" />
      <div className="table-wrap">
        <table>
          <caption className="sr-only">Agents</caption>
          <thead>
            <tr>
              <th scope="col">Agent</th>
              <th scope="col">Role</th>
              <th scope="col">Model</th>
              <th scope="col">Runtime</th>
              <th scope="col">Concurrency</th>
              <th scope="col">Status</th>
              <th scope="col">Last heartbeat</th>
              <th scope="col">Enabled</th>
              <th scope="col"><span className="sr-only">Actions</span></th>
            </tr>
          </thead>
          <tbody>
            {agents.data?.items.map((a) => (
              <tr key={a.id}>
                <td>
                  <strong>{a.name}</strong> <span className="mono muted">{a.id}</span>
                </td>
                <td>{a.role}</td>
                <td className="mono">{a.model}</td>
                <td>{a.runtime}</td>
                <td>{a.max_concurrency}</td>
                <td>
                  <StatusBadge status={a.status} />
                  {a.status_reason ? <div className="muted small">{a.status_reason}</div> : null}
                </td>
                <td>{formatTime(a.last_heartbeat)}</td>
                <td>
                  <Switch.Root
                    className="switch"
                    checked={a.enabled}
                    aria-label={`Enable ${a.name}`}
                    disabled={update.isPending && update.variables?.id === a.id}
                    onCheckedChange={(enabled) => update.mutate({ id: a.id, body: { enabled } })}
                  >
                    <Switch.Thumb className="switch-thumb" />
                  </Switch.Root>
                </td>
                <td>
                  <button type="button" onClick={() => setEditing(a)} aria-label={`Edit ${a.name}`}>
                    Edit
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {agents.isSuccess && agents.data.items.length === 0 ? <p className="muted">No agents configured.</p> : null}
      </div>
      <RuntimesTable />
      {editing ? <AgentEditDialog agent={editing} open onOpenChange={(o) => !o && setEditing(null)} /> : null}
    </div>
  );
}
