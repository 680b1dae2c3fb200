// A task's review comments: GET, POST /api/tasks/{id}/comments and PATCH, DELETE
// /api/tasks/{id}/comments/{comment_id}. Each answer is written into the cache the way the
// live comment.changed / comment.deleted messages are.
import { queryOptions, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { client, unwrap } from '@/lib/api-client';
import { applyComment, dropComment } from '@/lib/comment-cache';
import { keys } from '@/lib/query-keys';
import type { CreateComment, UpdateComment } from '@/lib/types';

const taskPath = (id: number) => ({ params: { path: { id: String(id) } } });
const commentPath = (id: number, commentId: number) => ({ params: { path: { id: String(id), comment_id: commentId } } });

export const getComments = (id: number) => unwrap(client.GET('/api/tasks/{id}/comments', taskPath(id)));

export const commentsOptions = (id: number) => queryOptions({ queryKey: keys.taskComments(id), queryFn: () => getComments(id) });

export const useComments = (id: number, enabled = true) => useQuery({ ...commentsOptions(id), enabled });

export function useAddComment(id: number) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: CreateComment) => unwrap(client.POST('/api/tasks/{id}/comments', { ...taskPath(id), body })),
    onSuccess: (comment) => applyComment(qc, comment),
  });
}

export function useUpdateComment(id: number) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ commentId, body }: { commentId: number; body: UpdateComment }) =>
      unwrap(client.PATCH('/api/tasks/{id}/comments/{comment_id}', { ...commentPath(id, commentId), body })),
    onSuccess: (comment) => applyComment(qc, comment),
  });
}

export function useDeleteComment(id: number) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (commentId: number) => unwrap(client.DELETE('/api/tasks/{id}/comments/{comment_id}', commentPath(id, commentId))),
    onSuccess: (_, commentId) => dropComment(qc, id, commentId),
  });
}
