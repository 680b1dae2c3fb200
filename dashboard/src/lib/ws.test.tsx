import { act, renderHook } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { WsMessage } from './types';
import { useLiveSocket } from './ws';

// A stand-in for the browser WebSocket that lets the test play the server.
class FakeSocket {
  static all: FakeSocket[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((e: { data: string }) => void) | null = null;
  onclose: (() => void) | null = null;
  constructor(public url: string) {
    FakeSocket.all.push(this);
  }
  close() {
    this.onclose?.();
  }
  open() {
    this.onopen?.();
  }
  send(msg: WsMessage) {
    this.onmessage?.({ data: JSON.stringify(msg) });
  }
}

describe('useLiveSocket', () => {
  beforeEach(() => {
    FakeSocket.all = [];
    vi.useFakeTimers();
    vi.stubGlobal('WebSocket', FakeSocket);
  });
  afterEach(() => vi.useRealTimers());

  it('resumes after the last seq, drops replayed duplicates, and reports reconnecting then unreachable', () => {
    const got: WsMessage[] = [];
    const { result } = renderHook(() => useLiveSocket({ enabled: true, onMessage: (m) => got.push(m), baseUrl: 'ws://x/ws' }));
    const first = FakeSocket.all[0]!;
    expect(first.url).toBe('ws://x/ws');
    act(() => {
      first.open();
      first.send({ type: 'hello', seq: 10, data: { server_time: 'now' } });
      first.send({ type: 'budget.updated', seq: 11, data: {} as never });
    });
    expect(result.current).toBe('connected');
    act(() => first.close());
    expect(result.current).toBe('reconnecting');
    act(() => vi.advanceTimersByTime(15_000));
    const second = FakeSocket.all[1]!;
    expect(second.url).toBe('ws://x/ws?after=11');
    act(() => second.close()); // Never opened: the server is gone.
    act(() => vi.advanceTimersByTime(15_000));
    act(() => FakeSocket.all[2]!.close());
    expect(result.current).toBe('unreachable');
    const third = FakeSocket.all.at(-1)!;
    act(() => vi.advanceTimersByTime(15_000));
    const fourth = FakeSocket.all.at(-1)!;
    expect(fourth).not.toBe(third);
    act(() => {
      fourth.open();
      fourth.send({ type: 'hello', seq: 12, data: { server_time: 'now' } });
      fourth.send({ type: 'budget.updated', seq: 11, data: {} as never });
      fourth.send({ type: 'budget.updated', seq: 12, data: {} as never });
    });
    expect(result.current).toBe('connected');
    expect(got.filter((m) => m.type === 'budget.updated').map((m) => m.seq)).toEqual([11, 12]);
  });
});
