import type { ReactNode } from 'react';
import { Link, useLocation } from '../router';
import { useSession } from '../session';

const sections = [
  { to: '/', label: 'Overview' },
  { to: '/runs', label: 'Runs' },
  { to: '/tasks', label: 'Tasks' },
  { to: '/incidents', label: 'Incidents' },
  { to: '/budgets', label: 'Budgets' },
  { to: '/diagnostics', label: 'Diagnostics' },
  { to: '/doctor', label: 'Doctor' },
  { to: '/audit', label: 'Audit' },
];

export function Layout({ children }: { children: ReactNode }) {
  const { path } = useLocation();
  const { session, signOut } = useSession();
  const current = (to: string) => (to === '/' ? path === '/' : path === to || path.startsWith(`${to}/`));
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <div className="brand">
          Palyra <span>Operations console</span>
        </div>
        <div className="who">
          {session ? (
            <span data-testid="who">
              {session.name} · {session.role}
              {session.allTenants ? ' · all tenants' : session.tenants ? ` · ${session.tenants.join(', ')}` : ''}
            </span>
          ) : (
            <span>session not available</span>
          )}
          <button type="button" className="button button-small" onClick={signOut}>
            Sign out
          </button>
        </div>
        <nav aria-label="Console sections" className="nav">
          <ul>
            {sections.map((section) => (
              <li key={section.to}>
                <Link to={section.to} aria-current={current(section.to) ? 'page' : undefined}>
                  {section.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
      </header>
      <main id="main" tabIndex={-1}>
        {children}
      </main>
    </>
  );
}

export function PageTitle({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="page-title">
      <h1>{title}</h1>
      {children ? <div className="page-title-extra">{children}</div> : null}
    </div>
  );
}

/** When the data on screen was read, and a button to read it again now. */
export function Freshness({ updatedAt, onRefresh }: { updatedAt: Date | undefined; onRefresh(): void }) {
  return (
    <span className="freshness">
      {updatedAt ? <span>updated {updatedAt.toLocaleTimeString('en-GB')}</span> : null}
      <button type="button" className="button button-small" onClick={onRefresh}>
        Refresh
      </button>
    </span>
  );
}
