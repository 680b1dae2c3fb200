import { screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { Settings } from '@/lib/types';
import { renderWithProviders, stubFetch } from '@/test/utils';
import { SettingsPage } from './SettingsPage';

const settings: Settings = {
  workspace: '/srv/repos/shop',
  base_branch: null,
  verify: ['cargo test --workspace', 'npm test'],
  verify_timeout_secs: 1800,
  database_path: '/home/ada/.local/share/parent-harness/harness.db',
  worktrees_dir: '/home/ada/.local/share/parent-harness/worktrees',
  dashboard: 'embedded',
  listen: '127.0.0.1:3333',
  api_token_set: false,
  anthropic_api_key_set: true,
  openai_api_key_set: false,
  openai_base_url: 'http://127.0.0.1:11434/v1',
  anthropic_base_url: 'https://api.anthropic.com',
  max_concurrent: 4,
  session_timeout_secs: 3600,
  stuck_after_secs: 300,
  executors: ['local', 'docker'],
  roles: [
    { name: 'build', runtime: null, model: null, categories: ['feature', 'bug'] },
    { name: 'qa', runtime: 'cli', model: 'claude-opus-4-1', categories: [] },
  ],
  sandbox: { mode: 'require', network: '443,80', read_paths: ['/opt/toolchains'], write_paths: [], env: ['CARGO_HOME'] },
  telegram: { enabled: true, mode: 'polling', chat_ids: [1234567] },
};

const value = (group: HTMLElement, label: string) => within(group).getByText(label, { selector: 'dt' }).nextElementSibling as HTMLElement;

describe('settings page', () => {
  it('shows the active setup in groups, secrets only as set or not set', async () => {
    stubFetch((url) => (url.pathname === '/api/settings' ? { body: settings } : undefined));
    renderWithProviders(<SettingsPage />);
    const workspace = await screen.findByRole('region', { name: 'Workspace & verification' });
    expect(value(workspace, 'Workspace')).toHaveTextContent('/srv/repos/shop');
    expect(value(workspace, 'Base branch')).toHaveTextContent('the workspace’s current branch');
    expect(within(value(workspace, 'Verify')).getAllByRole('listitem').map((li) => li.textContent)).toEqual(['cargo test --workspace', 'npm test']);
    expect(value(workspace, 'Verify timeout')).toHaveTextContent('1800 s (30m)');

    const data = screen.getByRole('region', { name: 'Data & web' });
    expect(value(data, 'Database')).toHaveTextContent(settings.database_path);
    expect(value(data, 'Worktrees')).toHaveTextContent(settings.worktrees_dir);
    expect(value(data, 'API token')).toHaveTextContent(/^not set$/);

    const agents = screen.getByRole('region', { name: 'Agents & roles' });
    expect(value(agents, 'Anthropic API key')).toHaveTextContent(/^set$/);
    expect(within(agents).getByRole('listitem', { name: 'Role build' })).toHaveTextContent(/^build · feature, bug$/);
    expect(within(agents).getByRole('listitem', { name: 'Role qa' })).toHaveTextContent(/^qa · cli · claude-opus-4-1$/);

    const sandbox = screen.getByRole('region', { name: 'Sandbox & network' });
    expect(value(sandbox, 'Agent network')).toHaveTextContent('443,80');
    expect(value(sandbox, 'Read paths')).toHaveTextContent('/opt/toolchains');
    expect(value(sandbox, 'Write paths')).toHaveTextContent('none');

    const executors = screen.getByRole('region', { name: 'Executors' });
    expect(within(executors).getAllByRole('listitem').map((li) => li.textContent)).toEqual(['local', 'docker']);

    const telegram = screen.getByRole('region', { name: 'Telegram' });
    expect(value(telegram, 'Mode')).toHaveTextContent('polling');
    expect(value(telegram, 'Chats')).toHaveTextContent('1234567');
    expect(screen.queryByRole('alert')).toBeNull();
  });

  it('says what is not set yet', async () => {
    stubFetch(() => ({ body: { ...settings, workspace: null, verify: [], anthropic_api_key_set: false, telegram: { enabled: false, mode: null, chat_ids: [] } } }));
    renderWithProviders(<SettingsPage />);
    const workspace = await screen.findByRole('region', { name: 'Workspace & verification' });
    expect(value(workspace, 'Workspace')).toHaveTextContent('not set (HARNESS_WORKSPACE)');
    expect(value(workspace, 'Verify')).toHaveTextContent('none (HARNESS_VERIFY)');
    expect(value(screen.getByRole('region', { name: 'Agents & roles' }), 'Anthropic API key')).toHaveTextContent(/^not set$/);
    const telegram = screen.getByRole('region', { name: 'Telegram' });
    expect(value(telegram, 'Bot')).toHaveTextContent('off');
    expect(within(telegram).queryByText('Mode')).toBeNull();
  });

  it("shows the server's message when the settings cannot be read", async () => {
    stubFetch(() => ({ status: 500, body: { error: { code: 'internal', message: 'database is locked' } } }));
    renderWithProviders(<SettingsPage />);
    expect(await screen.findByRole('alert')).toHaveTextContent('database is locked');
    expect(screen.queryByRole('region', { name: 'Data & web' })).toBeNull();
  });
});
