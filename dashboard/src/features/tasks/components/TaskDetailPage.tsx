// Everything about one task: its fields, actions, question, diagnosis, dependencies both
// ways, findings with screenshots, sessions (rendered by the sessions feature via a slot)
// and full history.
import { useState, type ReactNode } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { useQueries } from '@tanstack/react-query';
import { ConfirmDialog } from '@/components/ConfirmDialog';
import { ErrorMessage } from '@/components/ErrorMessage';
import { StatusBadge } from '@/components/StatusBadge';
import { formatTime, tidyFailure } from '@/lib/format';
import type { Task } from '@/lib/types';
import { taskOptions, useTask } from '../api/get-task';
import { useDeleteTask } from '../api/delete-task';
import { useTaskEstimate } from '../api/get-task-estimate';
import { useMarkSize } from '../api/mark-size';
import { useTransitionTask, type TaskAction } from '../api/transition-task';
import { QuestionBox } from './QuestionBox';
import { Dependents, History, TaskLink } from './TaskRelations';
import { TaskFindings } from './TaskFindings';
import { TaskFormDialog } from './TaskFormDialog';
import { MESSAGE_STATUSES, MessageAgentBox } from '../review/ReviewActions';
import { ReviewPanel } from '../review/ReviewPanel';

const FINAL = new Set(['completed', 'cancelled']);

interface Slots {
  renderSessions: (taskId: number) => ReactNode;
  /** The attempts' commits, verification output and cost, shown with the review. */
  renderAttempts?: (taskId: number) => ReactNode;
}

export function TaskDetailPage({ renderSessions, renderAttempts }: Slots) {
  const { taskId = '' } = useParams();
  const task = useTask(taskId);
  if (task.isPending) return <p role="status">Loading task…</p>;
  if (task.isError) return <ErrorMessage error={task.error} title={`Task ${taskId}`} />;
  return <TaskDetail task={task.data} renderSessions={renderSessions} renderAttempts={renderAttempts} />;
}

function TaskDetail({ task, renderSessions, renderAttempts }: Slots & { task: Task }) {
  const [editing, setEditing] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const [cancelling, setCancelling] = useState(false);
  const navigate = useNavigate();
  const transition = useTransitionTask(task.id);
  const remove = useDeleteTask(task.id);
  const estimate = useTaskEstimate(task.id);
  const markSize = useMarkSize(task.id);
  const deps = useQueries({ queries: task.depends_on.map((id) => taskOptions(id)) });
  const labels = new Map(deps.flatMap((d) => (d.data ? [[d.data.id, `${d.data.display_id} ${d.data.title}`] as const] : [])));

  const actions: { action: TaskAction; label: string; show: boolean }[] = [
    // A failed task, or one waiting out its retry backoff, can be retried now.
    { action: 'retry', label: task.retry_at ? 'Retry now' : 'Retry', show: task.status === 'failed' || (task.status === 'pending' && !!task.retry_at) },
    { action: 'unblock', label: 'Unblock', show: task.status === 'blocked' },
    { action: 'reopen', label: 'Reopen', show: task.status === 'cancelled' },
    // Verified work the base refused for now: try the landing again at once.
    { action: 'land', label: 'Land now', show: task.outcome?.kind === 'waiting_to_land' },
    { action: 'cancel', label: 'Cancel task', show: !FINAL.has(task.status) },
  ];

  return (
    <div className="page">
      <nav aria-label="Breadcrumb">
        <Link to="/tasks">← Board</Link>
      </nav>
      <header className="page-header">
        <h1>
          <span className="mono muted">{task.display_id}</span> {task.title}
        </h1>
        <div className="actions">
          <button type="button" onClick={() => setEditing(true)}>Edit</button>
          {actions.filter((a) => a.show).map((a) => (
            <button
              key={a.action}
              type="button"
              className={a.action === 'cancel' ? 'danger' : undefined}
              onClick={() => (a.action === 'cancel' ? setCancelling(true) : transition.mutate(a.action))}
              disabled={transition.isPending}
            >
              {a.label}
            </button>
          ))}
          <button type="button" className="danger" onClick={() => setDeleting(true)}>
            Delete
          </button>
        </div>
      </header>
      <ErrorMessage error={transition.error} title="Action failed" />
      <ErrorMessage error={remove.error} title="Could not delete" />

      <dl className="facts">
        <dt>Status</dt>
        <dd><StatusBadge status={task.status} /></dd>
        {task.outcome ? (
          <>
            <dt>Outcome</dt>
            <dd>
              <OutcomeText outcome={task.outcome} />
            </dd>
          </>
        ) : null}
        {task.pull_request ? (
          <>
            <dt>Pull request</dt>
            <dd>
              <a href={task.pull_request.url} target="_blank" rel="noreferrer">
                #{task.pull_request.number}
              </a>{' '}
              at <span className="mono">{task.pull_request.commit.slice(0, 12)}</span>
              {task.pull_request.checks ? `, checks ${task.pull_request.checks}` : ''}
              {`, ${task.pull_request.approvals} approval(s)`}
              {task.pull_request.fix_rounds > 0 ? `, ${task.pull_request.fix_rounds} fix round(s)` : ''}
              {task.pull_request.problem ? (
                <span className="warning"> — {task.pull_request.problem}</span>
              ) : null}
            </dd>
          </>
        ) : null}
        <dt>Priority</dt>
        <dd>{task.priority}</dd>
        <dt>Category</dt>
        <dd>{task.category}</dd>
        <dt>Agent</dt>
        <dd>{task.assigned_agent ?? '—'}</dd>
        <dt>Estimate</dt>
        <dd>
          {estimate.data?.estimate ? (
            <span title={estimate.data.estimate.reason}>{estimate.data.estimate.size}</span>
          ) : (
            '—'
          )}{' '}
          <select
            aria-label="Mark size"
            value=""
            disabled={markSize.isPending}
            onChange={(e) => e.target.value && markSize.mutate({ size: e.target.value })}
          >
            <option value="">mark…</option>
            <option value="small">small</option>
            <option value="medium">medium</option>
            <option value="large">large (architect first)</option>
          </select>
          <ErrorMessage error={markSize.error} title="Could not mark the size" />
        </dd>
        <dt>Landing</dt>
        <dd>{task.land === 'review' ? 'after a person’s review' : task.land === 'auto' ? 'automatic' : 'the role’s default'}</dd>
        <dt>Attempts</dt>
        <dd>{task.attempts} / {task.max_attempts}</dd>
        <dt>Updated</dt>
        <dd>{formatTime(task.updated_at)}</dd>
      </dl>

      {/* The server keeps the answered question until an attempt that resumed with it ends with a result; an answer already given closes the box. */}
      {task.question && !task.answer ? <QuestionBox taskId={task.id} question={task.question} /> : null}
      {task.question && task.answer ? (
        <p className="card" role="status">
          Answered “{task.question}” with “{task.answer}”; the agent resumes with it.
        </p>
      ) : null}
      {task.retry_at && task.status === 'pending' ? <p className="muted">Next attempt not before {formatTime(task.retry_at)}.</p> : null}
      {task.follow_up && task.status === 'pending' ? (
        <p className="card" role="status">
          The next attempt continues the agent’s conversation with: <span className="prewrap">“{task.follow_up}”</span>
        </p>
      ) : null}

      <section aria-labelledby="desc-h" className="card">
        <h2 id="desc-h">Description</h2>
        <p className="prewrap">{task.description || <span className="muted">No description.</span>}</p>
        <h3>Pass criteria</h3>
        {task.pass_criteria.length ? (
          <ul>{task.pass_criteria.map((c, i) => <li key={i}>{c}</li>)}</ul>
        ) : (
          <p className="muted">None given.</p>
        )}
      </section>

      <ReviewPanel task={task} attempts={renderAttempts?.(task.id)} />
      {/* The agent's conversation goes on with a message: after a review, a landing, a block or a failure. */}
      {MESSAGE_STATUSES.includes(task.status) ? <MessageAgentBox taskId={task.id} /> : null}

      {/* A completed task keeps the text of an earlier failed attempt; it no longer explains anything. */}
      {task.last_failure && task.status !== 'completed' ? (
        <section aria-labelledby="fail-h" className="card">
          <h2 id="fail-h">Why the last attempt failed</h2>
          <pre className="log-pre">{tidyFailure(task.last_failure)}</pre>
        </section>
      ) : null}

      {task.diagnosis ? (
        <section aria-labelledby="diag-h" className="card">
          <h2 id="diag-h">Investigator's diagnosis</h2>
          <p className="prewrap">{task.diagnosis}</p>
        </section>
      ) : null}

      <TaskFindings taskId={task.id} />

      <section aria-labelledby="deps-h" className="card">
        <h2 id="deps-h">Dependencies</h2>
        <h3>Depends on</h3>
        {task.depends_on.length === 0 ? <p className="muted">Nothing.</p> : null}
        <ul>
          {deps.map((d, i) => (
            <li key={task.depends_on[i]}>
              {d.data ? <TaskLink task={d.data} /> : d.isError ? <ErrorMessage error={d.error} /> : `#${task.depends_on[i]}…`}
            </li>
          ))}
        </ul>
        <Dependents taskId={task.id} />
      </section>

      <section aria-labelledby="sessions-h" className="card">
        <h2 id="sessions-h">Sessions</h2>
        {renderSessions(task.id)}
      </section>

      <History taskId={task.id} />
      <TaskFormDialog open={editing} onOpenChange={setEditing} task={task} dependencyLabels={labels} />
      <ConfirmDialog
        open={cancelling}
        onOpenChange={setCancelling}
        title={`Cancel ${task.display_id}?`}
        message={`${task.status === 'in_progress' || task.status === 'verifying' ? 'Its running session is stopped, and the' : 'The'} task does not run again unless it is reopened.`}
        confirmLabel="Cancel task"
        onConfirm={() => transition.mutate('cancel')}
      />
      <ConfirmDialog
        open={deleting}
        onOpenChange={setDeleting}
        title={`Delete ${task.display_id}?`}
        message="The task and its history are removed for good."
        confirmLabel="Delete task"
        onConfirm={() => remove.mutate(undefined, { onSuccess: () => void navigate('/tasks') })}
      />
    </div>
  );
}

function OutcomeText({ outcome }: { outcome: NonNullable<Task['outcome']> }) {
  switch (outcome.kind) {
    case 'landed':
      return (
        <>
          landed <span className="mono">{outcome.commit}</span>
        </>
      );
    case 'no_changes':
      return <>no changes</>;
    case 'waiting_to_land':
      return <>verified, waiting to land: {outcome.reason}</>;
    case 'in_review':
      return (
        <>
          verified, waiting for review: <span className="mono">{outcome.branch}</span> at <span className="mono">{outcome.commit}</span>
        </>
      );
  }
}
