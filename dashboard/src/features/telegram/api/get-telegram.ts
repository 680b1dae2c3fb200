import { queryOptions, useQuery } from '@tanstack/react-query';
import { client, unwrap } from '@/lib/api-client';
import { keys } from '@/lib/query-keys';

export const getTelegram = () => unwrap(client.GET('/api/telegram'));

// Not pushed over /ws: the outbox and the last error change outside the board.
export const telegramOptions = () => queryOptions({ queryKey: keys.telegram, queryFn: getTelegram, refetchInterval: 15_000 });

export const useTelegram = () => useQuery(telegramOptions());
