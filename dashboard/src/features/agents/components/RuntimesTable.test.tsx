import { screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { RuntimeState } from '@/lib/types';
import { renderWithProviders, stubFetch } from '@/test/utils';
import { RuntimesTable } from './RuntimesTable';

const runtimes: RuntimeState[] = [
  {
    runtime: 'acp',
    command: ['gemini', '--experimental-acp'],
    agents: ['build-1', 'build-2'],
    path: '/usr/local/bin/gemini',
    version: 'gemini-cli 0.61.0',
    credentials: 'the agent’s own: name its key in HARNESS_AGENT_ENV',
    problem: null,
  },
  {
    runtime: 'cli',
    command: ['codex'],
    agents: [],
    path: null,
    version: null,
    credentials: 'the agent’s own: name its key in HARNESS_AGENT_ENV',
    problem: '`codex` was not found; install it or set the agent’s command',
  },
  {
    runtime: 'anthropic',
    command: [],
    agents: ['qa'],
    path: null,
    version: null,
    credentials: 'ANTHROPIC_API_KEY is set',
    problem: null,
  },
];

describe('runtimes table', () => {
  it('shows each runtime’s program, version, credentials, agents and whether it can run', async () => {
    stubFetch((url) => (url.pathname === '/api/runtimes' ? { body: { items: runtimes } } : undefined));
    renderWithProviders(<RuntimesTable />);
    const acp = await screen.findByRole('row', { name: 'Runtime acp gemini' });
    const cells = within(acp).getAllByRole('cell').map((c) => c.textContent);
    expect(cells).toEqual([
      'acp',
      '/usr/local/bin/gemini --experimental-acp',
      'gemini-cli 0.61.0',
      'the agent’s own: name its key in HARNESS_AGENT_ENV',
      'build-1, build-2',
      'ready',
    ]);
    const missing = screen.getByRole('row', { name: 'Runtime cli codex' });
    expect(missing).toHaveTextContent('codex (not found)');
    expect(missing).toHaveTextContent('was not found; install it');
    expect(missing).toHaveTextContent('none');
    const own = screen.getByRole('row', { name: 'Runtime anthropic' });
    expect(within(own).getAllByRole('cell').map((c) => c.textContent)).toEqual(['anthropic', 'built in', '–', 'ANTHROPIC_API_KEY is set', 'qa', 'ready']);
  });
});
