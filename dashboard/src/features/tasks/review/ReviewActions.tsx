// The person's verdict on a task in review, and a message to its agent. Validation is the
// server's, except that Reject without a reason is stopped here before it is sent.
import { useState, type FormEvent } from 'react';
import { ErrorMessage } from '@/components/ErrorMessage';
import { useMessageAgent, useReviewTask } from '../api/review-task';
import type { ReviewAction, TaskStatus } from '@/lib/types';

/** The statuses in which the agent's conversation can be continued with a message. */
export const MESSAGE_STATUSES: readonly TaskStatus[] = ['review', 'completed', 'blocked', 'failed'];

const LABEL: Record<ReviewAction, string> = { approve: 'Approve', request_changes: 'Request changes', reject: 'Reject' };

export function ReviewActions({ taskId, openComments }: { taskId: number; openComments: number }) {
  const [message, setMessage] = useState('');
  const [missing, setMissing] = useState<Error | null>(null);
  const review = useReviewTask(taskId);
  const act = (action: ReviewAction) => {
    const text = message.trim();
    review.reset();
    if (action === 'reject' && !text) {
      setMissing(new Error('Say why the work is rejected: Reject needs a message.'));
      return;
    }
    setMissing(null);
    review.mutate({ action, ...(text ? { message: text } : {}) }, { onSuccess: () => setMessage('') });
  };
  return (
    <section aria-labelledby="review-verdict-h" className="review-verdict">
      <h3 id="review-verdict-h">Your review</h3>
      <label htmlFor={`review-message-${taskId}`}>Message to the agent</label>
      <textarea
        id={`review-message-${taskId}`}
        value={message}
        onChange={(e) => setMessage(e.target.value)}
        rows={3}
        placeholder={openComments ? `Optional with ${openComments} open comment${openComments === 1 ? '' : 's'}; required to reject` : 'What should change? Required to reject'}
      />
      <ErrorMessage error={missing} />
      <ErrorMessage error={review.error} title="Review not sent" />
      <div className="actions review-buttons">
        {(['approve', 'request_changes', 'reject'] as const).map((a) => (
          <button key={a} type="button" className={a === 'approve' ? 'primary' : a === 'reject' ? 'danger' : undefined} disabled={review.isPending} onClick={() => act(a)}>
            {LABEL[a]}
          </button>
        ))}
      </div>
    </section>
  );
}

export function MessageAgentBox({ taskId }: { taskId: number }) {
  const [message, setMessage] = useState('');
  const send = useMessageAgent(taskId);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    send.mutate(message.trim(), { onSuccess: () => setMessage('') });
  };
  return (
    <form onSubmit={submit} className="card review-message" aria-labelledby={`message-agent-h-${taskId}`}>
      <h3 id={`message-agent-h-${taskId}`}>Message the agent</h3>
      <label htmlFor={`message-agent-${taskId}`} className="sr-only">Message</label>
      <textarea id={`message-agent-${taskId}`} value={message} onChange={(e) => setMessage(e.target.value)} rows={2} required placeholder="The agent continues its conversation with this, on the same branch." />
      <ErrorMessage error={send.error} title="Message not sent" />
      <div className="actions">
        <button type="submit" disabled={send.isPending || !message.trim()}>Send to the agent</button>
      </div>
    </form>
  );
}
