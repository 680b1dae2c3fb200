import { describe, expect, it, vi } from 'vitest';
import { stubFetch } from '@/test/utils';
import { ApiError, client, unwrap } from './api-client';

const failure = (call: Promise<unknown>) => call.then(() => { throw new Error('expected a failure'); }, (err: unknown) => err);

describe('api client', () => {
  it('sends typed paths as relative URLs, leaving unset filters out of the query', async () => {
    const calls = stubFetch(() => ({ body: { items: [], total: 0, limit: 5, offset: 0 } }));
    await unwrap(client.GET('/api/tasks', { params: { query: { q: 'a b', category: '', agent: undefined, limit: 5 } } }));
    expect(calls).toHaveLength(1);
    expect(calls[0]!.url.pathname).toBe('/api/tasks');
    expect(calls[0]!.url.search).toBe('?q=a+b&limit=5');
  });

  it('sends JSON bodies, the session cookie and asks for JSON', async () => {
    let seen: Request | undefined;
    vi.stubGlobal('fetch', async (req: Request) => {
      seen = req;
      return new Response(null, { status: 204 });
    });
    await expect(unwrap(client.POST('/api/auth/login', { body: { token: 't' } }))).resolves.toBeUndefined();
    expect(seen?.credentials).toBe('same-origin');
    expect(seen?.headers.get('accept')).toBe('application/json');
    expect(seen?.headers.get('content-type')).toBe('application/json');
    expect(await seen?.json()).toEqual({ token: 't' });
  });

  it("turns the server's error body into an ApiError with its code, message and field", async () => {
    stubFetch(() => ({ status: 422, body: { error: { code: 'validation_failed', message: 'title is empty', field: 'title' } } }));
    const err = await failure(unwrap(client.POST('/api/tasks', { body: { title: '' } })));
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 422, code: 'validation_failed', message: 'title is empty', field: 'title' });
  });

  it("says what came back when it is not the server's error shape (a proxy's page)", async () => {
    vi.stubGlobal('fetch', async () => new Response('<h1>Bad gateway</h1>', { status: 502, statusText: 'Bad Gateway' }));
    const err = await failure(unwrap(client.GET('/api/agents')));
    expect(err).toMatchObject({ status: 502, code: 'http_error', message: '502 Bad Gateway: <h1>Bad gateway</h1>', field: null });
  });

  it('says the orchestrator cannot be reached when the request fails', async () => {
    vi.stubGlobal('fetch', async () => {
      throw new TypeError('Failed to fetch');
    });
    const err = await failure(unwrap(client.GET('/api/agents')));
    expect(err).toMatchObject({ status: 0, code: 'network', message: 'Cannot reach the orchestrator (Failed to fetch). Is it running?' });
  });

  it('encodes path parameters', async () => {
    const calls = stubFetch(() => ({ body: { items: [] } }));
    await unwrap(client.GET('/api/tasks/{id}/history', { params: { path: { id: 'T-4/5' } } }));
    expect(calls[0]!.url.pathname).toBe('/api/tasks/T-4%2F5/history');
  });
});
