import { useMutation, useQueryClient } from '@tanstack/react-query';
import { client, unwrap } from '@/lib/api-client';
import { keys } from '@/lib/query-keys';

/** Exchanges the token for an HttpOnly session cookie (204). The token is never stored by us. */
export const login = (token: string) => unwrap(client.POST('/api/auth/login', { body: { token } }));

export function useLogin() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: login,
    onSuccess: async () => {
      await qc.invalidateQueries({ queryKey: keys.auth });
    },
  });
}
