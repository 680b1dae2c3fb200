import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import type { LogLine } from '@/lib/types';
import { LogView } from './LogView';

const at = '2026-11-27T18:00:00Z';
const lines: LogLine[] = [
  { session_id: 1, seq: 1, at, kind: 'text', content: 'I will read the file first.' },
  { session_id: 1, seq: 2, at, kind: 'tool_call', content: JSON.stringify({ name: 'read_file', input: { path: 'src/main.rs' } }) },
  { session_id: 1, seq: 3, at, kind: 'tool_result', content: JSON.stringify({ name: 'read_file', output: 'fn main() {}', is_error: false }) },
  { session_id: 1, seq: 4, at, kind: 'tool_result', content: JSON.stringify({ name: 'run', output: 'exit 1', is_error: true }) },
  { session_id: 1, seq: 5, at, kind: 'output', content: 'cargo test: 3 passed' },
  { session_id: 1, seq: 6, at, kind: 'commit', content: 'abc1234 Fix the bug' },
  { session_id: 1, seq: 7, at, kind: 'diff', content: '--- a/x\n+++ b/x\n-old\n+new' },
];

describe('session log view', () => {
  it('shows model text, and each tool call collapsed to what it acted on until opened', async () => {
    render(<LogView lines={lines} live />);
    const log = screen.getByRole('log', { name: 'Session log' });
    expect(within(log).getByText('I will read the file first.')).toBeInTheDocument();
    const call = within(log).getByRole('button', { name: /Tool call: read_file src\/main\.rs/ });
    expect(call).toHaveAttribute('aria-expanded', 'false');
    expect(within(log).queryByText(/"path": "src\/main\.rs"/)).toBeNull();
    await userEvent.click(call);
    expect(call).toHaveAttribute('aria-expanded', 'true');
    // The full input, and the output of the result line that answers the call.
    const body = document.getElementById(call.getAttribute('aria-controls')!)!;
    expect(within(body).getByText(/"path": "src\/main\.rs"/)).toBeInTheDocument();
    expect(within(body).getByText('fn main() {}')).toBeInTheDocument();
    await userEvent.click(call);
    expect(within(log).queryByText(/"path": "src\/main\.rs"/)).toBeNull();
  });

  it('shows the command of a run_command call on its collapsed line', () => {
    const cmd: LogLine[] = [
      { session_id: 3, seq: 1, at, kind: 'tool_call', content: JSON.stringify({ name: 'run_command', input: { command: 'cargo test --workspace', timeout_secs: 600 } }) },
      { session_id: 3, seq: 2, at, kind: 'output', content: '[cargo test --workspace] running 12 tests' },
      { session_id: 3, seq: 3, at, kind: 'tool_result', content: JSON.stringify({ name: 'run_command', output: 'exit 0\ntest result: ok', is_error: false }) },
    ];
    render(<LogView lines={cmd} live={false} />);
    const call = screen.getByRole('button', { name: /Tool call: run_command/ });
    expect(within(call).getByText('cargo test --workspace')).toBeInTheDocument();
    expect(within(screen.getByRole('button', { name: /Tool result: run_command/ })).getByText('exit 0')).toBeInTheDocument();
  });

  it('labels results, errors, command output, the commit and the diff', () => {
    render(<LogView lines={lines} live={false} />);
    expect(screen.getByRole('button', { name: /Tool result: read_file/ })).toBeInTheDocument();
    expect(screen.getByRole('button', { name: /Tool error: run/ })).toBeInTheDocument();
    expect(screen.getByText('cargo test: 3 passed')).toBeInTheDocument();
    expect(screen.getByText('abc1234 Fix the bug')).toBeInTheDocument();
    expect(screen.getByText('+new')).toBeInTheDocument();
  });

  it('lets the user pause and resume auto-scroll', async () => {
    render(<LogView lines={lines} live />);
    const btn = screen.getByRole('button', { name: 'Pause auto-scroll' });
    await userEvent.click(btn);
    expect(screen.getByRole('button', { name: 'Resume auto-scroll' })).toHaveAttribute('aria-pressed', 'true');
  });

  it('renders only a window of a 100,000-line log', () => {
    const many: LogLine[] = Array.from({ length: 100_000 }, (_, i) => ({ session_id: 2, seq: i + 1, at, kind: 'output', content: `line ${i + 1}` }));
    render(<LogView lines={many} live />);
    expect(screen.getByText('100,000 lines · live')).toBeInTheDocument();
    const rendered = document.querySelectorAll('.log-line').length;
    expect(rendered).toBeGreaterThan(0);
    expect(rendered).toBeLessThan(200);
  });
});
