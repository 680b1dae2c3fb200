// Starts real `harness` processes for the e2e suite: `serve` on a temp database and port 0,
// and the `dashboard` gateway. The address is read from the process's "listening" log line,
// so nothing sleeps waiting for readiness.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const root = resolve(import.meta.dirname, '..');
export const harnessBin = process.env.HARNESS_BIN ? resolve(process.env.HARNESS_BIN) : resolve(root, '../target/debug/harness');
export const distDir = resolve(root, 'dist');

// eslint-disable-next-line no-control-regex -- stripping terminal colour codes from logs.
const ANSI = /\x1b\[[0-9;]*m/g;
const ADDRESS = /(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-f:]+\]|localhost):(\d{2,5})/i;

/** Starts `harness <args>` and resolves once it logs a line containing "listening" and an address. */
function startProcess(args, env, label) {
  if (!existsSync(harnessBin)) throw new Error(`harness binary not found at ${harnessBin}; build it or set HARNESS_BIN`);
  const child = spawn(harnessBin, args, { env: { ...process.env, HARNESS_LOG_FORMAT: 'text', RUST_LOG: 'info', NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = [];
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => fail(new Error(`${label} did not log a listening address within 20s`)), 20_000);
    const fail = (err) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${err.message}\n--- ${label} output ---\n${log.join('')}`));
    };
    const onData = (chunk) => {
      const text = chunk.toString().replace(ANSI, '');
      log.push(text);
      for (const line of text.split('\n')) {
        if (!/listening/i.test(line)) continue;
        const m = line.match(ADDRESS);
        if (!m) continue;
        clearTimeout(timer);
        const host = m[1] === '0.0.0.0' ? '127.0.0.1' : m[1];
        resolvePromise({ url: `http://${host}:${m[2]}`, port: Number(m[2]), child, log, stop: () => stop(child) });
        return;
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => fail(new Error(`${label} exited early with code ${code}`)));
    child.on('error', fail);
  });
}

function stop(child) {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((r) => {
    child.once('exit', r);
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  });
}

/** A real orchestrator on a fresh temp database, serving the built dashboard. */
export async function startServe({ token, env: extra = {} } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'harness-e2e-'));
  const env = {
    PORT: '0',
    HARNESS_BIND: '127.0.0.1',
    DATABASE_PATH: join(dir, 'harness.db'),
    HARNESS_DASHBOARD_DIR: distDir,
    ...(token ? { HARNESS_API_TOKEN: token } : {}),
    ...extra,
  };
  let server = await startProcess(['serve'], env, 'harness serve');
  const front = process.env.E2E_VITE_PREVIEW ? await startPreview(server.url) : null;
  await expectDashboard(front ?? server, 'harness serve');
  return {
    url: front?.url ?? server.url,
    apiUrl: server.url,
    port: server.port,
    dir,
    databasePath: env.DATABASE_PATH,
    /** Stops the process and starts a new one on the same port and database. */
    async restart() {
      await server.stop();
      server = await startProcess(['serve'], { ...env, PORT: String(server.port) }, 'harness serve (restarted)');
    },
    async stop() {
      await front?.stop();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The dashboard gateway in front of `upstream`. */
export async function startGateway(upstream) {
  const gateway = await startProcess(['dashboard', '--upstream', upstream, '--dir', distDir, '--port', '0', '--bind', '127.0.0.1'], {}, 'harness dashboard');
  await expectDashboard(gateway, 'harness dashboard');
  return gateway;
}

/**
 * Development aid only (E2E_VITE_PREVIEW=1): serve dist/ with `vite preview`, proxying to
 * the real server, for when the server cannot serve the SPA itself yet. CI never sets it.
 */
async function startPreview(upstream) {
  const port = 20000 + Math.floor(Math.random() * 20000);
  // Node runs Vite directly (not through npx), so stopping this child stops Vite itself.
  const child = spawn(process.execPath, [join(root, 'node_modules', 'vite', 'bin', 'vite.js'), 'preview', '--port', String(port), '--strictPort', '--host', '127.0.0.1'], {
    cwd: root,
    env: { ...process.env, HARNESS_UPSTREAM: upstream },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    if (await fetch(url).then((r) => r.ok, () => false)) return { url, child, stop: () => stop(child) };
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop(child);
  throw new Error('vite preview did not start');
}

/** Fails early, with a clear reason, when the process does not serve our index.html. */
async function expectDashboard(proc, label) {
  const res = await fetch(`${proc.url}/`).catch((err) => ({ status: 0, text: async () => String(err) }));
  const body = await res.text();
  if (res.status !== 200 || !body.includes('<div id="root">')) {
    await proc.stop();
    throw new Error(`${label} does not serve the built dashboard from ${distDir} at / (status ${res.status}): ${body.slice(0, 200)}`);
  }
}
