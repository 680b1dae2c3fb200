import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { page, renderWithProviders, stubFetch } from '@/test/utils';
import { AttemptSummary } from './AttemptSummary';

const session = (over: Record<string, unknown>) => ({
  id: 1, task_id: 7, agent_id: 'build-1', model: 'claude-sonnet-4-5', status: 'succeeded', purpose: 'attempt', started_at: '2026-12-07T20:00:00Z',
  input_tokens: 10, output_tokens: 5, cache_read_tokens: 0, cache_write_tokens: 0, cost_usd: 0.5, log_bytes: 0, ...over,
});

describe('the attempts shown with a review', () => {
  it('lists each attempt with its commit and verification output, and the task\'s whole cost', async () => {
    stubFetch((url) => {
      if (url.pathname === '/api/sessions') {
        return {
          body: page([
            session({ id: 3, commit_sha: 'abcdef1234567890', verify_output: 'test result: ok. 12 passed', cost_usd: 1.25 }),
            session({ id: 2, purpose: 'estimate', cost_usd: 0.25 }),
            session({ id: 1, status: 'failed', commit_sha: null, cost_usd: 0.5 }),
          ]),
        };
      }
    });
    renderWithProviders(<AttemptSummary taskId={7} />);
    expect(await screen.findByText(/2 attempts; \$2\.00 spent on 3 sessions/)).toBeInTheDocument();
    const list = screen.getByRole('list');
    expect(within(list).getByRole('link', { name: '#3' })).toHaveAttribute('href', '/sessions/3');
    expect(within(list).getByText('abcdef1')).toHaveAttribute('title', 'abcdef1234567890');
    expect(within(list).getByText('no commit')).toBeInTheDocument();
    await userEvent.click(within(list).getByText('Verification output'));
    expect(within(list).getByText('test result: ok. 12 passed')).toBeVisible();
  });
});
