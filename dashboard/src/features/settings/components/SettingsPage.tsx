// The setup this server runs with (GET /api/settings), grouped as a person looks for it.
// Read-only: settings come from the environment and harness.toml, read at startup.
// Secrets are never sent, only whether they are set.
import type { ReactNode } from 'react';
import { ErrorMessage } from '@/components/ErrorMessage';
import type { Settings } from '@/lib/types';
import { useSettings } from '../api/get-settings';

export function SettingsPage() {
  const settings = useSettings();
  return (
    <div className="page">
      <header className="page-header">
        <h1>Settings</h1>
      </header>
      <p className="muted">
        The setup this server runs with, read at startup from the environment and harness.toml. Change it there and
        restart the server. Secrets are shown only as set or not set.
      </p>
      {settings.isPending ? <p role="status">Loading settings…</p> : null}
      <ErrorMessage error={settings.error} title="Settings" />
      {settings.data ? <SettingsGroups s={settings.data} /> : null}
    </div>
  );
}

function SettingsGroups({ s }: { s: Settings }) {
  return (
    <div className="settings-grid">
      <Group id="set-workspace" title="Workspace & verification">
        <Fact label="Workspace">{s.workspace ? <Path>{s.workspace}</Path> : <Unset hint="HARNESS_WORKSPACE" />}</Fact>
        <Fact label="Base branch">{s.base_branch ? <span className="mono">{s.base_branch}</span> : <span className="muted">the workspace’s current branch</span>}</Fact>
        <Fact label="Verify">
          {s.verify.length ? (
            <ul className="settings-list">{s.verify.map((c, i) => <li key={i} className="mono">{c}</li>)}</ul>
          ) : (
            <Unset text="none" hint="HARNESS_VERIFY" />
          )}
        </Fact>
        <Fact label="Verify timeout">{seconds(s.verify_timeout_secs)}</Fact>
      </Group>

      <Group id="set-data" title="Data & web">
        <Fact label="Database"><Path>{s.database_path}</Path></Fact>
        <Fact label="Worktrees"><Path>{s.worktrees_dir}</Path></Fact>
        <Fact label="Dashboard">{s.dashboard.startsWith('embedded') ? s.dashboard : <Path>{s.dashboard}</Path>}</Fact>
        <Fact label="Listens on"><span className="mono">{s.listen}</span></Fact>
        <Fact label="API token"><Secret set={s.api_token_set} /></Fact>
      </Group>

      <Group id="set-agents" title="Agents & roles">
        <Fact label="Anthropic API key"><Secret set={s.anthropic_api_key_set} /></Fact>
        <Fact label="Anthropic URL"><span className="mono">{s.anthropic_base_url}</span></Fact>
        <Fact label="OpenAI-compatible API key"><Secret set={s.openai_api_key_set} /></Fact>
        <Fact label="OpenAI-compatible URL"><span className="mono">{s.openai_base_url}</span></Fact>
        <Fact label="Sessions at once">{s.max_concurrent}</Fact>
        <Fact label="Session timeout">{seconds(s.session_timeout_secs)}</Fact>
        <Fact label="Stuck after">{seconds(s.stuck_after_secs)}</Fact>
        <Fact label="Roles">
          <Roles roles={s.roles} />
        </Fact>
      </Group>

      <Group id="set-sandbox" title="Sandbox & network">
        <Fact label="Sandbox">{s.sandbox.mode}</Fact>
        <Fact label="Agent network">{s.sandbox.network}</Fact>
        <Fact label="Read paths"><Paths paths={s.sandbox.read_paths} /></Fact>
        <Fact label="Write paths"><Paths paths={s.sandbox.write_paths} /></Fact>
        <Fact label="Passed environment">
          {s.sandbox.env.length ? <span className="mono">{s.sandbox.env.join(', ')}</span> : <span className="muted">none</span>}
        </Fact>
      </Group>

      <Group id="set-executors" title="Executors">
        <Fact label="Attempts run on">
          <ul className="chips" aria-label="Executors">
            {s.executors.map((e) => <li key={e} className="chip chip-static">{e}</li>)}
          </ul>
        </Fact>
      </Group>

      <Group id="set-telegram" title="Telegram">
        <Fact label="Bot">{s.telegram.enabled ? <span className="badge" data-state="on">on</span> : <span className="badge">off</span>}</Fact>
        {s.telegram.enabled ? (
          <>
            <Fact label="Mode">{s.telegram.mode ?? '—'}</Fact>
            <Fact label="Chats">{s.telegram.chat_ids.length ? <span className="mono">{s.telegram.chat_ids.join(', ')}</span> : <span className="muted">none</span>}</Fact>
          </>
        ) : null}
      </Group>
    </div>
  );
}

/** Each role with the task categories routed to it; runtime and model only where the role sets them. */
function Roles({ roles }: { roles: Settings['roles'] }) {
  if (!roles.length) return <span className="muted">none</span>;
  return (
    <>
      <p className="muted small settings-note">Categories routed to each. Runtime and model are each agent’s own unless a role sets them.</p>
      <ul className="settings-list settings-roles">
        {roles.map((r) => {
          const set = [r.runtime, r.model].filter(Boolean).join(' · ');
          return (
            <li key={r.name} aria-label={`Role ${r.name}`}>
              <strong>{r.name}</strong>
              {r.categories.length ? <span className="muted"> · {r.categories.join(', ')}</span> : null}
              {set ? <span className="mono small"> · {set}</span> : null}
            </li>
          );
        })}
      </ul>
    </>
  );
}

function Group({ id, title, children }: { id: string; title: string; children: ReactNode }) {
  return (
    <section className="card settings-group" aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      <dl className="settings-facts">{children}</dl>
    </section>
  );
}

function Fact({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="settings-fact">
      <dt>{label}</dt>
      <dd>{children}</dd>
    </div>
  );
}

const Path = ({ children }: { children: string }) => <span className="mono path">{children}</span>;

function Paths({ paths }: { paths: string[] }) {
  if (!paths.length) return <span className="muted">none</span>;
  return <ul className="settings-list">{paths.map((p) => <li key={p}><Path>{p}</Path></li>)}</ul>;
}

function Secret({ set }: { set: boolean }) {
  return (
    <span className="badge" data-state={set ? 'set' : 'unset'}>
      {set ? 'set' : 'not set'}
    </span>
  );
}

function Unset({ text = 'not set', hint }: { text?: string; hint: string }) {
  return (
    <span className="muted">
      {text} (<code>{hint}</code>)
    </span>
  );
}

/** 1800 → "1800 s (30m)", so the number matches what was configured. */
function seconds(n: number): string {
  if (n < 60) return `${n} s`;
  const h = Math.floor(n / 3600);
  const m = Math.floor((n % 3600) / 60);
  const rest = n % 60;
  const human = [h ? `${h}h` : '', m ? `${m}m` : '', rest ? `${rest}s` : ''].filter(Boolean).join(' ');
  return `${n} s (${human})`;
}
