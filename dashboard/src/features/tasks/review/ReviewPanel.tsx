// The Review section of a task's page: shown while the task has a branch to show (GET
// /api/tasks/{id}/diff answers 200). The changed files, each file's diff (unified or side by
// side, highlighted), comments on lines, and the verdict buttons while the task is in review.
import { lazy, Suspense, useEffect, useMemo, useRef, useState, type KeyboardEvent, type ReactNode, type RefObject } from 'react';
import { ErrorMessage } from '@/components/ErrorMessage';
import { useTaskDiff } from '../api/get-task-diff';
import { useComments } from '../api/review-comments';
import { CommentList } from './Comments';
import { splitPatch } from './split-patch';
import type { DiffMode } from './FileDiffView';
import { ReviewActions } from './ReviewActions';
import type { DiffFile, ReviewComment, Task } from '@/lib/types';

// The diff library and highlight.js are loaded only when a review is opened, and then
// while its diff is still being fetched.
const loadDiffView = () => import('./FileDiffView');
const FileDiffView = lazy(loadDiffView);

/** Pixels a diff row takes, to reserve a file's height before it is drawn. */
const ROW_PX = 20;
/** Diff lines drawn at a time: a large file is cut into pieces of this many, each drawn as it nears the viewport. */
const PIECE_ROWS = 100;
const NO_COMMENTS: ReviewComment[] = [];

const short = (sha: string) => sha.slice(0, 7);

/** A task that has never been claimed has no branch: its diff is not asked for (the 404 would only clutter the console). */
const mayHaveBranch = (t: Task) => t.attempts > 0 || t.status === 'in_progress' || t.status === 'verifying' || t.status === 'review';

/** `attempts`: the sessions feature's summary of the attempts (a slot, as features never import each other). */
export function ReviewPanel({ task, attempts }: { task: Task; attempts?: ReactNode }) {
  const started = mayHaveBranch(task);
  const diff = useTaskDiff(task.id, started);
  const comments = useComments(task.id, !!diff.data);
  const [mode, setMode] = useState<DiffMode>('unified');
  const hasDiff = diff.data != null;
  const all = comments.data?.items ?? NO_COMMENTS;
  // Per file, the comments still on a line; kept across renders so a file's diff is redrawn only when they change.
  const onLines = useMemo(() => {
    const m = new Map<string, ReviewComment[]>();
    for (const c of all) if (!c.outdated) m.set(c.path, [...(m.get(c.path) ?? []), c]);
    return m;
  }, [all]);
  useEffect(() => {
    // A task that has been started may well have a diff: fetch the viewer alongside it.
    if (hasDiff || (diff.isPending && started)) void loadDiffView();
  }, [hasDiff, diff.isPending, started]);
  if (diff.isPending) return null;
  if (diff.isError) {
    return (
      <section aria-labelledby="review-h" className="card review">
        <h2 id="review-h">Review</h2>
        <ErrorMessage error={diff.error} title="Could not load the diff" />
      </section>
    );
  }
  const d = diff.data;
  if (!d) return null; // No branch: nothing to review.
  const openComments = all.filter((c) => !c.outdated && !c.resolved).length;
  const additions = d.files.reduce((n, f) => n + f.additions, 0);
  const deletions = d.files.reduce((n, f) => n + f.deletions, 0);

  return (
    <section aria-labelledby="review-h" className="card review">
      <h2 id="review-h">Review</h2>
      <p className="small muted">
        Branch <span className="mono">{d.branch}</span> at <span className="mono" title={d.head_commit}>{short(d.head_commit)}</span> against{' '}
        <span className="mono">{d.base}</span> at <span className="mono" title={d.base_commit}>{short(d.base_commit)}</span>.
      </p>
      {attempts}
      {task.status === 'review' && task.pull_request ? (
        <p className="muted">
          This work is reviewed on the forge:{' '}
          <a href={task.pull_request.url} target="_blank" rel="noreferrer">
            pull request #{task.pull_request.number}
          </a>
          . Approving here would land it past the pull request.
        </p>
      ) : null}
      {task.status === 'review' ? <ReviewActions taskId={task.id} openComments={openComments} /> : null}

      <div className="review-toolbar">
        <h3>
          {d.files.length} file{d.files.length === 1 ? '' : 's'} changed{' '}
          <span className="review-add">+{additions}</span> <span className="review-del">−{deletions}</span>
        </h3>
        <div role="group" aria-label="Diff layout" className="review-mode">
          <button type="button" aria-pressed={mode === 'unified'} onClick={() => setMode('unified')}>Unified</button>
          <button type="button" aria-pressed={mode === 'split'} onClick={() => setMode('split')}>Side by side</button>
        </div>
      </div>
      {d.truncated ? <p className="notice" role="status">The diff is too large to show whole: it was cut at the size limit.</p> : null}
      <FileList files={d.files} />
      <ErrorMessage error={comments.error} title="Could not load the comments" />
      <CommentList comments={all} />
      <div className="review-files">
        {d.files.map((f, i) => (
          <FileSection key={f.path} index={i} taskId={task.id} file={f} mode={mode} comments={onLines.get(f.path) ?? NO_COMMENTS} />
        ))}
      </div>
    </section>
  );
}

const fileAnchor = (i: number) => `review-file-${i}`;

function FileList({ files }: { files: DiffFile[] }) {
  return (
    <div className="table-wrap review-file-list-wrap">
      <table className="review-file-list">
        <caption className="sr-only">Files changed</caption>
        <thead>
          <tr>
            <th scope="col">File</th>
            <th scope="col">Change</th>
            <th scope="col">Added</th>
            <th scope="col">Removed</th>
          </tr>
        </thead>
        <tbody>
          {files.map((f, i) => (
            <tr key={f.path}>
              <td className="mono">
                <a href={`#${fileAnchor(i)}`} onClick={(e) => { e.preventDefault(); document.getElementById(fileAnchor(i))?.scrollIntoView(); }}>
                  {f.old_path && f.old_path !== f.path ? `${f.old_path} → ${f.path}` : f.path}
                </a>
              </td>
              <td><span className="badge" data-status={f.status}>{f.status.replace(/_/g, ' ')}</span></td>
              <td className="review-add">+{f.additions}</td>
              <td className="review-del">−{f.deletions}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** True once the element has come near the viewport; it then stays drawn. Without IntersectionObserver, at once. */
function useNearViewport(ref: RefObject<Element | null>) {
  const [near, setNear] = useState(() => typeof IntersectionObserver === 'undefined');
  useEffect(() => {
    const el = ref.current;
    if (near || !el) return;
    const io = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) setNear(true);
    }, { rootMargin: '600px 0px' });
    io.observe(el);
    return () => io.disconnect();
  }, [near, ref]);
  return near;
}

function FileSection({ index, taskId, file, mode, comments }: { index: number; taskId: number; file: DiffFile; mode: DiffMode; comments: ReviewComment[] }) {
  const [open, setOpen] = useState(true);
  const pieces = useMemo(() => (file.binary ? [] : splitPatch(file.patch, PIECE_ROWS)), [file.binary, file.patch]);
  const headingId = `${fileAnchor(index)}-h`;
  return (
    <section id={fileAnchor(index)} className="review-file" aria-labelledby={headingId} data-path={file.path}>
      <header className="review-file-head">
        <button type="button" className="review-file-toggle" aria-expanded={open} aria-label={`${open ? 'Hide' : 'Show'} ${file.path}`} onClick={() => setOpen(!open)}>
          {open ? '▾' : '▸'}
        </button>
        <h4 id={headingId} className="mono">{file.old_path && file.old_path !== file.path ? `${file.old_path} → ${file.path}` : file.path}</h4>
        <span className="badge" data-status={file.status}>{file.status.replace(/_/g, ' ')}</span>
        <span className="review-add small">+{file.additions}</span>
        <span className="review-del small">−{file.deletions}</span>
      </header>
      {!open ? null : file.binary ? (
        <p className="muted small">Binary file: not shown.</p>
      ) : !file.patch.includes('\n@@') && !file.patch.startsWith('@@') ? (
        <p className="muted small">No changes to the text ({file.status.replace(/_/g, ' ')}).</p>
      ) : (
        pieces.map((p, i) => <DiffPiece key={i} taskId={taskId} file={file} patch={p.patch} rows={p.rows} mode={mode} comments={comments} />)
      )}
    </section>
  );
}

/**
 * The diff library opens a line's comment form on the "+" button's mousedown only; Enter or
 * Space on the focused button (the stylesheet keeps it reachable by Tab) does the same.
 */
function openCommentByKey(e: KeyboardEvent<HTMLDivElement>) {
  const target = e.target as HTMLElement;
  if ((e.key === 'Enter' || e.key === ' ') && target.classList.contains('diff-add-widget')) {
    e.preventDefault();
    target.dispatchEvent(new MouseEvent('mousedown', { bubbles: true }));
  }
}

/** A piece of a file's diff, drawn once it comes near the viewport; until then a space of its height. */
function DiffPiece({ rows, ...props }: { taskId: number; file: DiffFile; patch: string; rows: number; mode: DiffMode; comments: ReviewComment[] }) {
  const ref = useRef<HTMLDivElement>(null);
  const near = useNearViewport(ref);
  const height = rows * ROW_PX;
  if (!near) return <div ref={ref} className="review-diff-placeholder" style={{ height }} aria-hidden="true" />;
  return (
    <Suspense fallback={<p role="status" className="muted small" style={{ minHeight: height }}>Loading the diff…</p>}>
      <div className="review-diff" onKeyDown={openCommentByKey}>
        <FileDiffView {...props} />
      </div>
    </Suspense>
  );
}
