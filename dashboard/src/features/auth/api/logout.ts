import { useMutation, useQueryClient } from '@tanstack/react-query';
import { client, unwrap } from '@/lib/api-client';
import { keys } from '@/lib/query-keys';

export const logout = () => unwrap(client.POST('/api/auth/logout'));

export function useLogout() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: logout,
    onSuccess: async () => {
      // Nothing cached may outlive the session it was fetched with.
      qc.removeQueries({ predicate: (q) => q.queryKey[0] !== 'auth' });
      await qc.invalidateQueries({ queryKey: keys.auth });
    },
  });
}
