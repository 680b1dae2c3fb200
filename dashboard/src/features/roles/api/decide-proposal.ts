import { useMutation, useQueryClient } from '@tanstack/react-query';
import { post } from '../../../lib/api-client';
import { keys } from '../../../lib/query-keys';
import type { AcceptedProposal, Items, Proposal } from '../../../lib/types';

export type Decision = 'accept' | 'reject';

export async function decideProposal(id: number, decision: Decision): Promise<Proposal> {
  if (decision === 'accept') return (await post<AcceptedProposal>(`/api/proposals/${id}/accept`)).proposal;
  return post<Proposal>(`/api/proposals/${id}/reject`);
}

export function useDecideProposal() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ id, decision }: { id: number; decision: Decision }) => decideProposal(id, decision),
    onSuccess: (proposal, { decision }) => {
      qc.setQueryData<Items<Proposal>>(keys.proposals, (d) => d && { items: d.items.map((p) => (p.id === proposal.id ? proposal : p)) });
      // An accepted proposal is a new task on the board.
      if (decision === 'accept') void qc.invalidateQueries({ queryKey: keys.tasks });
    },
  });
}
