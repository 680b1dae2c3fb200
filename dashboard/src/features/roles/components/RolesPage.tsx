// The roles: each with its prompt, tools, agents and status; and SIA's proposals, which
// wait here for a person to accept (a task is created) or reject them.
import { ErrorMessage } from '@/components/ErrorMessage';
import { StatusBadge } from '@/components/StatusBadge';
import { formatTime } from '@/lib/format';
import type { Proposal, Role } from '@/lib/types';
import { useDecideProposal } from '../api/decide-proposal';
import { useProposals } from '../api/get-proposals';
import { useRoles } from '../api/get-roles';

export function RolesPage() {
  const roles = useRoles();
  return (
    <div className="page">
      <header className="page-header">
        <h1>Roles</h1>
      </header>
      <p className="muted">
        Roles are set in harness.toml ([roles.NAME]); agents take a role with [agents.NAME] role = "…". Task and
        orchestrator are the scheduler itself.
      </p>
      <ErrorMessage error={roles.error} />
      <div className="table-wrap">
        <table>
          <caption className="sr-only">Roles</caption>
          <thead>
            <tr>
              <th scope="col">Role</th>
              <th scope="col">Job</th>
              <th scope="col">Tools</th>
              <th scope="col">Categories</th>
              <th scope="col">Agents</th>
              <th scope="col">Status</th>
            </tr>
          </thead>
          <tbody>{roles.data?.items.map((r) => <RoleRow key={r.name} role={r} />)}</tbody>
        </table>
      </div>
      <Proposals />
    </div>
  );
}

function RoleRow({ role }: { role: Role }) {
  return (
    <tr aria-label={`Role ${role.name}`}>
      <td>
        <strong>{role.name}</strong> {role.builtin ? null : <span className="muted small">custom</span>}
        <div className="muted small">{role.description}</div>
        <details>
          <summary>Prompt</summary>
          <p className="small">{role.prompt}</p>
          <p className="muted small">
            Runtime: {role.runtime ?? 'each agent’s'}
            {role.fallback.length > 0 && <> (then {role.fallback.join(', ')})</>} · Model: {role.model ?? 'each agent’s'} · At once: {role.concurrency}
            {role.read_only ? ' · read-only' : ''}
          </p>
        </details>
      </td>
      <td>{role.job.replace('_', ' ')}</td>
      <td className="mono small">{role.tools.join(', ')}</td>
      <td>{role.categories.length ? role.categories.join(', ') : '—'}</td>
      <td>{role.agents.length ? role.agents.join(', ') : '—'}</td>
      <td>
        <StatusBadge status={role.status} />
        {role.status_reason ? <div className="muted small">{role.status_reason}</div> : null}
      </td>
    </tr>
  );
}

function Proposals() {
  const proposals = useProposals();
  const decide = useDecideProposal();
  const items = proposals.data?.items ?? [];
  return (
    <section aria-labelledby="proposals-heading">
      <h2 id="proposals-heading">Proposed tasks</h2>
      <ErrorMessage error={proposals.error} />
      <ErrorMessage error={decide.error} title="Could not decide the proposal" />
      {proposals.isSuccess && items.length === 0 ? <p className="muted">SIA has proposed nothing yet.</p> : null}
      <ul className="plain">
        {items.map((p) => (
          <ProposalItem key={p.id} proposal={p} busy={decide.isPending && decide.variables?.id === p.id} onDecide={(decision) => decide.mutate({ id: p.id, decision })} />
        ))}
      </ul>
    </section>
  );
}

function ProposalItem({ proposal, busy, onDecide }: { proposal: Proposal; busy: boolean; onDecide: (d: 'accept' | 'reject') => void }) {
  return (
    <li aria-label={`Proposal ${proposal.title}`}>
      <strong>{proposal.title}</strong> <span className="muted small">{proposal.priority} · {proposal.category} · from {proposal.source} · {formatTime(proposal.created_at)}</span>
      {proposal.description ? <p className="small">{proposal.description}</p> : null}
      {proposal.status === 'proposed' ? (
        <span className="actions">
          <button type="button" disabled={busy} onClick={() => onDecide('accept')}>Accept</button>
          <button type="button" disabled={busy} onClick={() => onDecide('reject')}>Reject</button>
        </span>
      ) : (
        <StatusBadge status={proposal.status} />
      )}
    </li>
  );
}
