// Renders the app only once the server says we may use it; otherwise the login page.
import type { ReactNode } from 'react';
import { ErrorMessage } from '@/components/ErrorMessage';
import { useAuthStatus } from '../api/get-auth-status';
import { LoginPage } from './LoginPage';

export function AuthGate({ children }: { children: (authRequired: boolean) => ReactNode }) {
  const status = useAuthStatus();
  if (status.isPending) return <p className="centered" role="status">Connecting to the orchestrator…</p>;
  if (status.isError) {
    return (
      <main className="centered">
        <ErrorMessage error={status.error} title="Orchestrator unreachable" />
        <button type="button" onClick={() => void status.refetch()}>Try again</button>
      </main>
    );
  }
  if (status.data.auth_required && !status.data.authenticated) return <LoginPage />;
  return <>{children(status.data.auth_required)}</>;
}
