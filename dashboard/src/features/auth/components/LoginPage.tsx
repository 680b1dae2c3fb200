import { useState, type FormEvent } from 'react';
import { ErrorMessage } from '@/components/ErrorMessage';
import { useLogin } from '../api/login';

export function LoginPage() {
  const [token, setToken] = useState('');
  const login = useLogin();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    login.mutate(token.trim());
  };
  return (
    <main className="login">
      <form onSubmit={submit} className="card login-card" aria-labelledby="login-title">
        <h1 id="login-title">Parent Harness</h1>
        <p>This orchestrator requires an API token (HARNESS_API_TOKEN).</p>
        <label htmlFor="token">API token</label>
        <input id="token" type="password" autoComplete="current-password" value={token} onChange={(e) => setToken(e.target.value)} required autoFocus />
        <ErrorMessage error={login.error} title="Sign-in failed" />
        <button type="submit" className="primary" disabled={login.isPending || !token.trim()}>
          {login.isPending ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
