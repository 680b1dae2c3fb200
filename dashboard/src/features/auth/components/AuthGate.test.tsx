import { screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { renderWithProviders, stubFetch } from '@/test/utils';
import { AuthGate } from './AuthGate';

describe('login flow', () => {
  it('asks for a token, shows the server rejection, then lets the user in', async () => {
    let authenticated = false;
    const calls = stubFetch((url, init) => {
      if (url.pathname === '/api/auth/status') return { body: { auth_required: true, authenticated } };
      if (url.pathname === '/api/auth/login' && init.method === 'POST') {
        const { token } = JSON.parse(String(init.body)) as { token: string };
        if (token !== 'right') return { status: 401, body: { error: { code: 'unauthorized', message: 'invalid token' } } };
        authenticated = true;
        return { status: 204 };
      }
    });
    renderWithProviders(<AuthGate>{() => <p>the app</p>}</AuthGate>);
    const input = await screen.findByLabelText('API token');
    await userEvent.type(input, 'wrong');
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('invalid token');
    await userEvent.clear(input);
    await userEvent.type(input, 'right');
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByText('the app')).toBeInTheDocument();
    expect(calls.filter((c) => c.url.pathname === '/api/auth/login').map((c) => c.body)).toEqual([{ token: 'wrong' }, { token: 'right' }]);
  });

  it('goes straight to the app when the server needs no token', async () => {
    stubFetch((url) => (url.pathname === '/api/auth/status' ? { body: { auth_required: false, authenticated: false } } : undefined));
    renderWithProviders(<AuthGate>{() => <p>the app</p>}</AuthGate>);
    expect(await screen.findByText('the app')).toBeInTheDocument();
  });

  it('says the orchestrator is unreachable when the status call fails', async () => {
    stubFetch(() => ({ status: 502, body: { error: { code: 'bad_gateway', message: 'upstream down' } } }));
    renderWithProviders(<AuthGate>{() => <p>the app</p>}</AuthGate>);
    expect(await screen.findByRole('alert')).toHaveTextContent('upstream down');
  });
});
