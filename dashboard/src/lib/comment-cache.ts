// The one way a review comment (or its deletion) is written into the react-query cache:
// the live stream (comment.changed / comment.deleted) and the comment mutations both call
// it, so an edit shows the same whichever arrives first.
import type { QueryClient } from '@tanstack/react-query';
import type { ReviewComment, ReviewCommentList } from './types';
import { keys } from './query-keys';

/** Replaces or appends `comment` in its task's cached list (oldest first, as the server sends it). */
export function applyComment(qc: QueryClient, comment: ReviewComment) {
  qc.setQueryData<ReviewCommentList>(keys.taskComments(comment.task_id), (d) => {
    if (!d) return d; // Not on screen: fetched when the review is opened.
    const i = d.items.findIndex((c) => c.id === comment.id);
    if (i >= 0) return { items: d.items.map((c) => (c.id === comment.id ? comment : c)) };
    return { items: [...d.items, comment].sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id - b.id) };
  });
}

export function dropComment(qc: QueryClient, taskId: number, id: number) {
  qc.setQueryData<ReviewCommentList>(keys.taskComments(taskId), (d) => {
    if (!d || !d.items.some((c) => c.id === id)) return d;
    return { items: d.items.filter((c) => c.id !== id) };
  });
}
