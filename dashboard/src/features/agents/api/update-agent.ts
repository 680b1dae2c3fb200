import { useMutation, useQueryClient } from '@tanstack/react-query';
import { client, unwrap } from '@/lib/api-client';
import { keys } from '@/lib/query-keys';
import type { AgentList, UpdateAgent } from '@/lib/types';

export const updateAgent = (id: string, body: UpdateAgent) =>
  unwrap(client.PATCH('/api/agents/{id}', { params: { path: { id } }, body }));

export function useUpdateAgent() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ id, body }: { id: string; body: UpdateAgent }) => updateAgent(id, body),
    onSuccess: (agent) =>
      qc.setQueryData<AgentList>(keys.agents, (d) => d && { items: d.items.map((a) => (a.id === agent.id ? agent : a)) }),
  });
}
