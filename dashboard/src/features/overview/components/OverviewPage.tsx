// The at-a-glance page. Widgets owned by other features arrive as slots from src/app so
// this feature does not import them.
import type { ReactNode } from 'react';
import { Link } from 'react-router';
import { ErrorMessage } from '@/components/ErrorMessage';
import { formatTime, statusLabel } from '@/lib/format';
import { TASK_STATUSES } from '@/lib/types';
import { useOrchestratorStatus } from '../api/get-orchestrator-status';
import { useSetPaused } from '../api/set-paused';

interface Slots {
  agents: ReactNode;
  runningSessions: ReactNode;
  budget: ReactNode;
  events: ReactNode;
  telegram: ReactNode;
}

export function OverviewPage({ agents, runningSessions, budget, events, telegram }: Slots) {
  return (
    <div className="page page-wide">
      <header className="page-header">
        <h1>Overview</h1>
        <OrchestratorControl />
      </header>
      <TaskCounts />
      <div className="overview-grid">
        <section className="card" aria-labelledby="ov-agents">
          <h2 id="ov-agents">Agents</h2>
          {agents}
        </section>
        <section className="card" aria-labelledby="ov-budget">
          <h2 id="ov-budget">Budget</h2>
          {budget}
        </section>
        <section className="card" aria-labelledby="ov-telegram">
          <h2 id="ov-telegram">Telegram</h2>
          {telegram}
        </section>
        <section className="card span-2" aria-labelledby="ov-sessions">
          <h2 id="ov-sessions">Running sessions</h2>
          {runningSessions}
        </section>
        <section className="card span-2" aria-labelledby="ov-events">
          <h2 id="ov-events">Live events</h2>
          {events}
        </section>
      </div>
    </div>
  );
}

function OrchestratorControl() {
  const status = useOrchestratorStatus();
  const toggle = useSetPaused();
  if (status.isError) return <ErrorMessage error={status.error} title="Orchestrator status" />;
  if (!status.data) return <span role="status">…</span>;
  const { paused } = status.data;
  return (
    <div className="orch-control">
      <span role="status" className="badge" data-status={paused ? 'paused' : 'running'}>
        {paused ? 'Paused' : 'Running'}
      </span>
      <span className="muted small">v{status.data.version} · since {formatTime(status.data.started_at)}</span>
      <button type="button" onClick={() => toggle.mutate(!paused)} disabled={toggle.isPending}>
        {paused ? 'Resume' : 'Pause'}
      </button>
      <ErrorMessage error={toggle.error} />
    </div>
  );
}

function TaskCounts() {
  const status = useOrchestratorStatus();
  const counts = status.data?.task_counts ?? {};
  return (
    <section aria-labelledby="ov-counts">
      <h2 id="ov-counts" className="sr-only">Tasks by status</h2>
      <ul className="counts">
        {TASK_STATUSES.map((s) => (
          <li key={s} className="card count-card" data-status={s}>
            <Link to="/tasks">
              <span className="count-num">{status.data ? counts[s] ?? 0 : '…'}</span>
              <span className="count-label">{statusLabel(s)}</span>
            </Link>
          </li>
        ))}
      </ul>
    </section>
  );
}
