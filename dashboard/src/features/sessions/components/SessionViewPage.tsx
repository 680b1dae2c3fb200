import { useEffect, useState, type ReactNode } from 'react';
import { Link, useParams } from 'react-router';
import { useQueryClient } from '@tanstack/react-query';
import { ConfirmDialog } from '@/components/ConfirmDialog';
import { ErrorMessage } from '@/components/ErrorMessage';
import { StatusBadge } from '@/components/StatusBadge';
import { durationBetween, formatTime, formatTokens, formatUsd, tidyFailure } from '@/lib/format';
import { useNow } from '@/lib/use-now';
import { useCancelSessionTask } from '../api/cancel-task';
import { useSession } from '../api/get-session';
import { catchUpSessionLogs, useSessionLogs } from '../api/get-session-logs';
import { LogView } from './LogView';
import { TaskRef } from './TaskRef';

interface Props {
  /** The session's task as "T-1 · title" (the tasks feature, via src/app); a bare T-1 link without it. */
  renderTask?: (taskId: number) => ReactNode;
}

export function SessionViewPage({ renderTask }: Props) {
  const { sessionId = '' } = useParams();
  const id = Number(sessionId);
  const session = useSession(id);
  const logs = useSessionLogs(id);
  const qc = useQueryClient();
  const loaded = logs.isSuccess;

  // Lines written between our last page and the first live message would otherwise be lost.
  useEffect(() => {
    if (!loaded) return;
    const t = setTimeout(() => void catchUpSessionLogs(qc, id).catch(() => undefined), 300);
    return () => clearTimeout(t);
  }, [loaded, qc, id]);

  const s = session.data;
  const now = useNow(1000, s?.status === 'running');
  const [stopping, setStopping] = useState(false);
  const stop = useCancelSessionTask();
  // Only a running attempt has a task to cancel; other sessions (planning, review, …) end on their own.
  const stoppable = s?.status === 'running' && s.purpose === 'attempt' && s.task_id != null ? s.task_id : null;
  return (
    <div className="page page-wide session-page">
      <nav aria-label="Breadcrumb">
        <Link to="/sessions">← Sessions</Link>
      </nav>
      <header className="page-header">
        <h1>Session #{sessionId}</h1>
        <div className="actions">
          {s ? <StatusBadge status={s.status} /> : null}
          {stoppable != null ? (
            <button type="button" className="danger" onClick={() => setStopping(true)} disabled={stop.isPending}>
              Stop
            </button>
          ) : null}
        </div>
      </header>
      <ErrorMessage error={session.error} />
      <ErrorMessage error={stop.error} title="Could not stop the session" />
      {s ? (
        <dl className="facts">
          <dt>Task</dt>
          <dd>{s.task_id != null && renderTask ? renderTask(s.task_id) : <TaskRef taskId={s.task_id} />}</dd>
          <dt>Agent</dt>
          <dd>{s.agent_id}</dd>
          <dt>Model</dt>
          <dd>{s.model}</dd>
          <dt>Started</dt>
          <dd>{formatTime(s.started_at)}</dd>
          <dt>Duration</dt>
          <dd>{durationBetween(s.started_at, s.ended_at, now)}</dd>
          <dt>Tokens in/out</dt>
          <dd>{formatTokens(s.input_tokens)} / {formatTokens(s.output_tokens)}</dd>
          <dt>Cost</dt>
          <dd>{formatUsd(s.cost_usd)}</dd>
          <dt>Purpose</dt>
          <dd>{s.purpose}</dd>
          {s.executor ? (
            <>
              <dt>Runs on</dt>
              <dd className="mono">
                {[s.executor, s.executor_name, s.executor_node].filter(Boolean).join(' · ')}
              </dd>
            </>
          ) : null}
          {s.branch ? (
            <>
              <dt>Branch</dt>
              <dd className="mono">{s.branch}</dd>
            </>
          ) : null}
          {s.commit_sha ? (
            <>
              <dt>Commit</dt>
              <dd className="mono">{s.commit_sha}</dd>
            </>
          ) : null}
          {s.exit_reason ? (
            <>
              <dt>Exit</dt>
              <dd className="prewrap">{tidyFailure(s.exit_reason)}</dd>
            </>
          ) : null}
        </dl>
      ) : null}
      {s?.verify_output ? (
        <details className="card">
          <summary>Verification output</summary>
          <pre className="log-pre">{tidyFailure(s.verify_output)}</pre>
        </details>
      ) : null}
      <ErrorMessage error={logs.error} title="Log" />
      {logs.isPending ? <p role="status">Loading log…</p> : null}
      {logs.data ? <LogView lines={logs.data.items} live={s?.status === 'running'} /> : null}
      {stoppable != null ? (
        <ConfirmDialog
          open={stopping}
          onOpenChange={setStopping}
          title={`Stop session #${sessionId}?`}
          message={`This cancels its task T-${stoppable}: the session is stopped and the task does not run again. It can be reopened later from its page or the board.`}
          confirmLabel="Stop and cancel task"
          onConfirm={() => stop.mutate(stoppable)}
        />
      ) : null}
    </div>
  );
}
