// Test helpers: a fresh QueryClient and router per test, and a fetch stand-in that answers
// like the real server (same JSON shapes, same error body) for the routes a test names.
import type { ReactElement } from 'react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { render } from '@testing-library/react';
import { MemoryRouter } from 'react-router';
import { vi } from 'vitest';

export function testQueryClient() {
  return new QueryClient({ defaultOptions: { queries: { retry: false }, mutations: { retry: false } } });
}

export function renderWithProviders(ui: ReactElement, { route = '/', qc = testQueryClient() } = {}) {
  const result = render(
    <QueryClientProvider client={qc}>
      <MemoryRouter initialEntries={[route]}>{ui}</MemoryRouter>
    </QueryClientProvider>,
  );
  return { ...result, qc };
}

export type Handler = (url: URL, init: RequestInit) => { status?: number; body?: unknown } | undefined;

/** Routes `fetch` to `handler`; an unhandled request fails the test loudly. */
export function stubFetch(handler: Handler) {
  const calls: { method: string; url: URL; body: unknown }[] = [];
  const fn = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    // The API client sends a Request; anything else is read the same way.
    const req = new Request(input, init);
    const url = new URL(req.url);
    const { method } = req;
    const text = await req.text();
    calls.push({ method, url, body: text ? JSON.parse(text) : undefined });
    const res = handler(url, { method, headers: req.headers, body: text || undefined });
    if (!res) throw new Error(`unexpected request in test: ${method} ${url.pathname}${url.search}`);
    const status = res.status ?? 200;
    return new Response(status === 204 ? null : JSON.stringify(res.body), { status, headers: { 'Content-Type': 'application/json' } });
  });
  vi.stubGlobal('fetch', fn);
  return calls;
}

let nextId = 1;
export function makeTask(over: Partial<import('@/lib/types').Task> = {}): import('@/lib/types').Task {
  const id = over.id ?? nextId++;
  return {
    id,
    display_id: `T-${id}`,
    title: `Task ${id}`,
    description: '',
    category: 'feature',
    priority: 'P2',
    status: 'pending',
    pass_criteria: [],
    depends_on: [],
    assigned_agent: null,
    attempts: 0,
    max_attempts: 3,
    crash_interruptions: 0,
    diagnosis: null,
    question: null,
    created_at: '2026-11-27T18:00:00Z',
    updated_at: '2026-11-27T18:00:00Z',
    ...over,
  };
}

export const page = <T,>(items: T[], total = items.length) => ({ items, total, limit: 200, offset: 0 });
