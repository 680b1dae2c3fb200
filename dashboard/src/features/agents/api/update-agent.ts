import { useMutation, useQueryClient } from '@tanstack/react-query';
import { patch } from '../../../lib/api-client';
import { keys } from '../../../lib/query-keys';
import type { Agent, Items, UpdateAgent } from '../../../lib/types';

export const updateAgent = (id: string, body: UpdateAgent) => patch<Agent>(`/api/agents/${encodeURIComponent(id)}`, body);

export function useUpdateAgent() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ id, body }: { id: string; body: UpdateAgent }) => updateAgent(id, body),
    onSuccess: (agent) =>
      qc.setQueryData<Items<Agent>>(keys.agents, (d) => d && { items: d.items.map((a) => (a.id === agent.id ? agent : a)) }),
  });
}
