import { queryOptions, useQuery } from '@tanstack/react-query';
import { get } from '../../../lib/api-client';
import { keys } from '../../../lib/query-keys';
import type { TelegramStatus } from '../../../lib/types';

export const getTelegram = () => get<TelegramStatus>('/api/telegram');

// Not pushed over /ws: the outbox and the last error change outside the board.
export const telegramOptions = () => queryOptions({ queryKey: keys.telegram, queryFn: getTelegram, refetchInterval: 15_000 });

export const useTelegram = () => useQuery(telegramOptions());
