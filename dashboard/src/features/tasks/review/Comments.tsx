// Review comments: one comment with its edit / resolve / delete controls, the form that
// writes a new one on a line, and the list of every comment on the task.
import { useState, type FormEvent } from 'react';
import { ErrorMessage } from '@/components/ErrorMessage';
import { formatTime } from '@/lib/format';
import { useAddComment, useDeleteComment, useUpdateComment } from '../api/review-comments';
import type { CommentSide, ReviewComment } from '@/lib/types';

export const lineLabel = (c: Pick<ReviewComment, 'path' | 'line' | 'end_line' | 'side'>) =>
  `${c.path}:${c.end_line && c.end_line !== c.line ? `${c.line}–${c.end_line}` : c.line}${c.side === 'old' ? ' (old)' : ''}`;

export function CommentItem({ comment, showLine = false }: { comment: ReviewComment; showLine?: boolean }) {
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState(comment.body);
  const update = useUpdateComment(comment.task_id);
  const remove = useDeleteComment(comment.task_id);
  const save = (e: FormEvent) => {
    e.preventDefault();
    update.mutate({ commentId: comment.id, body: { body: text.trim() } }, { onSuccess: () => setEditing(false) });
  };
  return (
    <article className="review-comment" aria-label={`Comment by ${comment.author} on ${lineLabel(comment)}`} data-outdated={comment.outdated || undefined} data-resolved={comment.resolved || undefined}>
      <header className="review-comment-head small">
        <strong>{comment.author}</strong>
        {showLine ? <span className="mono">{lineLabel(comment)}</span> : null}
        <span className="muted">{formatTime(comment.created_at)}</span>
        {comment.outdated ? <span className="badge" data-status="outdated">outdated</span> : null}
        {comment.resolved ? <span className="badge" data-status="resolved">resolved</span> : null}
      </header>
      {showLine && comment.line_text ? <pre className="review-comment-line mono small">{comment.line_text}</pre> : null}
      {editing ? (
        <form onSubmit={save} className="review-comment-form">
          <label className="sr-only" htmlFor={`edit-comment-${comment.id}`}>Edit comment</label>
          <textarea id={`edit-comment-${comment.id}`} value={text} onChange={(e) => setText(e.target.value)} rows={3} required autoFocus />
          <div className="actions">
            <button type="button" onClick={() => { setEditing(false); setText(comment.body); }}>Cancel</button>
            <button type="submit" className="primary" disabled={update.isPending || !text.trim()}>Save</button>
          </div>
        </form>
      ) : (
        <p className="prewrap">{comment.body}</p>
      )}
      {editing ? null : (
        <div className="actions review-comment-actions">
          <button type="button" onClick={() => setEditing(true)}>Edit</button>
          <button type="button" disabled={update.isPending} onClick={() => update.mutate({ commentId: comment.id, body: { resolved: !comment.resolved } })}>
            {comment.resolved ? 'Reopen' : 'Resolve'}
          </button>
          <button type="button" className="danger" disabled={remove.isPending} onClick={() => remove.mutate(comment.id)}>Delete</button>
        </div>
      )}
      <ErrorMessage error={update.error} title="Could not save the comment" />
      <ErrorMessage error={remove.error} title="Could not delete the comment" />
    </article>
  );
}

/** The comments inline at one line of the diff. */
export function CommentThread({ comments }: { comments: ReviewComment[] }) {
  return (
    <div className="review-thread">
      {comments.map((c) => (
        <CommentItem key={c.id} comment={c} />
      ))}
    </div>
  );
}

/** A new comment on `line` of `path`; the server says (422) when the line is not in the diff. */
export function CommentForm({ taskId, path, line, side, onDone }: { taskId: number; path: string; line: number; side: CommentSide; onDone: () => void }) {
  const [body, setBody] = useState('');
  const add = useAddComment(taskId);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    add.mutate({ path, line, side, body: body.trim() }, { onSuccess: onDone });
  };
  const id = `new-comment-${path}-${side}-${line}`;
  return (
    <form onSubmit={submit} className="review-comment-form" aria-label={`New comment on ${lineLabel({ path, line, side })}`}>
      <label htmlFor={id} className="small">Comment on line {line}{side === 'old' ? ' (old)' : ''}</label>
      <textarea id={id} value={body} onChange={(e) => setBody(e.target.value)} rows={3} required autoFocus />
      <ErrorMessage error={add.error} title="Comment not saved" />
      <div className="actions">
        <button type="button" onClick={onDone}>Cancel</button>
        <button type="submit" className="primary" disabled={add.isPending || !body.trim()}>Comment</button>
      </div>
    </form>
  );
}

/** Every comment on the task, oldest first, including the outdated ones the diff no longer shows. */
export function CommentList({ comments }: { comments: ReviewComment[] }) {
  const open = comments.filter((c) => !c.resolved && !c.outdated).length;
  return (
    <section aria-labelledby="review-comments-h" className="review-comments">
      <h3 id="review-comments-h">Comments <span className="count">{comments.length ? `${open} open of ${comments.length}` : ''}</span></h3>
      {comments.length === 0 ? <p className="muted small">No comments yet. Hover a line of the diff and press its “+” to comment on it.</p> : null}
      {comments.map((c) => (
        <CommentItem key={c.id} comment={c} showLine />
      ))}
    </section>
  );
}
