import type { ReactNode } from 'react';
import { NavLink } from 'react-router';
import { useLogout } from '@/features/auth/api/logout';
import { ErrorMessage } from '@/components/ErrorMessage';
import { ConnectionIndicator } from './ConnectionIndicator';

const NAV = [
  ['/', 'Overview'],
  ['/tasks', 'Tasks'],
  ['/sessions', 'Sessions'],
  ['/agents', 'Agents'],
  ['/roles', 'Roles'],
  ['/events', 'Events'],
  ['/usage', 'Usage'],
  ['/settings', 'Settings'],
] as const;

export function Shell({ authRequired, children }: { authRequired: boolean; children: ReactNode }) {
  const logout = useLogout();
  return (
    <div className="shell">
      <a className="skip-link" href="#main">Skip to content</a>
      <header className="topbar">
        <span className="brand">Parent Harness</span>
        <nav aria-label="Main">
          <ul>
            {NAV.map(([to, label]) => (
              <li key={to}>
                <NavLink to={to} end={to === '/'}>{label}</NavLink>
              </li>
            ))}
          </ul>
        </nav>
        <ConnectionIndicator />
        {authRequired ? (
          <button type="button" onClick={() => logout.mutate()}>Sign out</button>
        ) : null}
      </header>
      <ErrorMessage error={logout.error} title="Sign-out failed" />
      <main id="main" tabIndex={-1}>{children}</main>
    </div>
  );
}
