import { useMutation, useQueryClient } from '@tanstack/react-query';
import { client, unwrap } from '@/lib/api-client';
import { keys } from '@/lib/query-keys';
import type { Proposal, ProposalList } from '@/lib/types';

export type Decision = 'accept' | 'reject';

export async function decideProposal(id: number, decision: Decision): Promise<Proposal> {
  const params = { path: { id } };
  if (decision === 'accept') return (await unwrap(client.POST('/api/proposals/{id}/accept', { params }))).proposal;
  return unwrap(client.POST('/api/proposals/{id}/reject', { params }));
}

export function useDecideProposal() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ id, decision }: { id: number; decision: Decision }) => decideProposal(id, decision),
    onSuccess: (proposal, { decision }) => {
      qc.setQueryData<ProposalList>(keys.proposals, (d) => d && { items: d.items.map((p) => (p.id === proposal.id ? proposal : p)) });
      // An accepted proposal is a new task on the board.
      if (decision === 'accept') void qc.invalidateQueries({ queryKey: keys.tasks });
    },
  });
}
