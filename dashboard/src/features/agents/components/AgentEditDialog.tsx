// Change an agent's model and concurrency (PATCH /api/agents/{id}); the server validates.
import { useState, type FormEvent } from 'react';
import { Dialog } from '@/components/Dialog';
import { ErrorMessage } from '@/components/ErrorMessage';
import type { Agent } from '@/lib/types';
import { useUpdateAgent } from '../api/update-agent';

interface Props {
  agent: Agent;
  open: boolean;
  onOpenChange: (open: boolean) => void;
}

export function AgentEditDialog({ agent, open, onOpenChange }: Props) {
  return (
    <Dialog open={open} onOpenChange={onOpenChange} title={`Edit ${agent.name}`}>
      {open ? <AgentForm agent={agent} onDone={() => onOpenChange(false)} /> : null}
    </Dialog>
  );
}

function AgentForm({ agent, onDone }: { agent: Agent; onDone: () => void }) {
  const [model, setModel] = useState(agent.model);
  const [concurrency, setConcurrency] = useState(String(agent.max_concurrency));
  const update = useUpdateAgent();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    update.mutate({ id: agent.id, body: { model: model.trim(), max_concurrency: Number(concurrency) } }, { onSuccess: onDone });
  };
  return (
    <form onSubmit={submit} className="form">
      <label>
        Model
        <input value={model} onChange={(e) => setModel(e.target.value)} required autoFocus />
      </label>
      <label>
        Max concurrency
        <input type="number" inputMode="numeric" value={concurrency} onChange={(e) => setConcurrency(e.target.value)} required />
      </label>
      <ErrorMessage error={update.error} title="Could not save the agent" />
      <div className="actions">
        <button type="button" onClick={onDone}>
          Cancel
        </button>
        <button type="submit" className="primary" disabled={update.isPending}>
          Save
        </button>
      </div>
    </form>
  );
}
