// The one WebSocket. It connects to the relative /ws, remembers the last seq it saw and
// resumes from it (`?after=`) on reconnect, with capped exponential backoff.
import { useEffect, useRef, useState } from 'react';
import type { WsMessage } from './types';

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'unreachable';

export interface LiveSocketOptions {
  enabled: boolean;
  onMessage: (msg: WsMessage) => void;
  /** Override for tests; defaults to ws(s)://<this host>/ws. */
  baseUrl?: string;
}

/** Consecutive failed attempts before we stop saying "reconnecting" and say the server is gone. */
const UNREACHABLE_AFTER = 2;

export function backoffMs(attempt: number): number {
  const base = Math.min(10_000, 500 * 2 ** attempt);
  return base / 2 + Math.random() * (base / 2);
}

function defaultBaseUrl(): string {
  const proto = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${window.location.host}/ws`;
}

export function useLiveSocket({ enabled, onMessage, baseUrl }: LiveSocketOptions): ConnectionState {
  const [state, setState] = useState<ConnectionState>('connecting');
  const handler = useRef(onMessage);
  useEffect(() => {
    handler.current = onMessage;
  }, [onMessage]);
  // Survives reconnects (and re-renders) so a new socket resumes where the old one stopped.
  const lastSeq = useRef<number | null>(null);

  useEffect(() => {
    if (!enabled) return;
    let socket: WebSocket | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let failures = 0;
    let stopped = false;

    const connect = () => {
      const base = baseUrl ?? defaultBaseUrl();
      const url = lastSeq.current === null ? base : `${base}?after=${lastSeq.current}`;
      let opened = false;
      socket = new WebSocket(url);
      socket.onopen = () => {
        opened = true;
        failures = 0;
        setState('connected');
      };
      socket.onmessage = (ev) => {
        let msg: WsMessage;
        try {
          msg = JSON.parse(String(ev.data)) as WsMessage;
        } catch {
          return; // Not JSON: not ours to interpret.
        }
        if (msg.type === 'hello') {
          // First connection starts from "now"; on a resume, replay follows the hello.
          if (lastSeq.current === null) lastSeq.current = msg.seq;
        } else if (msg.type === 'resync') {
          lastSeq.current = msg.seq;
        } else if (lastSeq.current !== null && msg.seq <= lastSeq.current) {
          return; // Already applied (replay overlap).
        } else {
          lastSeq.current = msg.seq;
        }
        handler.current(msg);
      };
      socket.onclose = () => {
        socket = null;
        if (stopped) return;
        failures = opened ? 0 : failures + 1;
        setState(failures >= UNREACHABLE_AFTER ? 'unreachable' : 'reconnecting');
        timer = setTimeout(connect, backoffMs(failures));
      };
    };
    connect();
    return () => {
      stopped = true;
      clearTimeout(timer);
      socket?.close();
    };
  }, [enabled, baseUrl]);

  return enabled ? state : 'connecting';
}
