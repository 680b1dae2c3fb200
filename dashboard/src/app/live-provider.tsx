// Owns the single WebSocket for the whole app and feeds its messages, in small batches,
// into the cache patcher. Components read the connection state from context.
import { createContext, useCallback, useContext, useEffect, useRef, type ReactNode } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { useLiveSocket, type ConnectionState } from '@/lib/ws';
import { keys } from '@/lib/query-keys';
import type { WsMessage } from '@/lib/types';
import { applyLiveMessages } from './live-cache';

const ConnectionContext = createContext<ConnectionState>('connecting');
export const useConnectionState = () => useContext(ConnectionContext);

/** How long messages gather before one cache write; short enough to feel instant. */
const BATCH_MS = 30;
/** Task counts are refreshed at most this often while tasks are changing. */
const COUNTS_REFRESH_MS = 2000;

export function LiveProvider({ enabled, children, baseUrl }: { enabled: boolean; children: ReactNode; baseUrl?: string }) {
  const qc = useQueryClient();
  const queue = useRef<WsMessage[]>([]);
  const flushTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const countsTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  useEffect(
    () => () => {
      clearTimeout(flushTimer.current);
      clearTimeout(countsTimer.current);
    },
    [],
  );

  const onMessage = useCallback(
    (msg: WsMessage) => {
      queue.current.push(msg);
      if (flushTimer.current !== undefined) return;
      flushTimer.current = setTimeout(() => {
        flushTimer.current = undefined;
        const { tasksChanged } = applyLiveMessages(qc, queue.current.splice(0));
        if (tasksChanged && countsTimer.current === undefined) {
          countsTimer.current = setTimeout(() => {
            countsTimer.current = undefined;
            void qc.invalidateQueries({ queryKey: keys.orchestrator, exact: true });
          }, COUNTS_REFRESH_MS);
        }
      }, BATCH_MS);
    },
    [qc],
  );

  const state = useLiveSocket({ enabled, onMessage, baseUrl });
  return <ConnectionContext.Provider value={state}>{children}</ConnectionContext.Provider>;
}
