import { useCallback, useEffect, useMemo, useState } from 'react';
import { ApiError, setUnauthorizedHandler, storedToken, storeToken } from './api/client';
import { endpoints } from './api/endpoints';
import type { Session } from './api/types';
import { Layout } from './components/Layout';
import { LoginPage } from './pages/login/LoginPage';
import { AuditPage } from './pages/audit/AuditPage';
import { BudgetsPage } from './pages/budgets/BudgetsPage';
import { DiagnosticsPage } from './pages/diagnostics/DiagnosticsPage';
import { DoctorPage } from './pages/doctor/DoctorPage';
import { IncidentPage } from './pages/incidents/IncidentPage';
import { IncidentsPage } from './pages/incidents/IncidentsPage';
import { NotFoundPage } from './pages/NotFoundPage';
import { OverviewPage } from './pages/overview/OverviewPage';
import { RunPage } from './pages/runs/RunPage';
import { RunsPage } from './pages/runs/RunsPage';
import { TaskPage } from './pages/tasks/TaskPage';
import { TasksPage } from './pages/tasks/TasksPage';
import { match, useLocation } from './router';
import { SessionContext } from './session';

type Auth =
  | { status: 'signed_out'; message?: string }
  | { status: 'checking' }
  | { status: 'signed_in'; session: Session | null; sessionNote?: string };

/** Asks the API who the token is; a server without /v1/session yet still lets the user in, with no actions shown. */
async function checkToken(): Promise<Auth> {
  try {
    return { status: 'signed_in', session: await endpoints.session() };
  } catch (error) {
    if (error instanceof ApiError && error.notAvailable) {
      return { status: 'signed_in', session: null, sessionNote: error.message };
    }
    storeToken(null);
    const message = error instanceof ApiError ? `${error.code}: ${error.message}` : String(error);
    return { status: 'signed_out', message };
  }
}

function Page({ path }: { path: string }) {
  let params: Record<string, string> | undefined;
  if (path === '/') return <OverviewPage />;
  if (path === '/runs') return <RunsPage />;
  if ((params = match('/runs/:runId', path))) return <RunPage runId={params.runId as string} />;
  if (path === '/tasks') return <TasksPage />;
  if ((params = match('/tasks/:taskId', path))) return <TaskPage taskId={params.taskId as string} />;
  if (path === '/incidents') return <IncidentsPage />;
  if ((params = match('/incidents/:incidentId', path))) return <IncidentPage incidentId={params.incidentId as string} />;
  if (path === '/budgets') return <BudgetsPage />;
  if (path === '/diagnostics') return <DiagnosticsPage />;
  if (path === '/doctor') return <DoctorPage />;
  if (path === '/audit') return <AuditPage />;
  return <NotFoundPage path={path} />;
}

export function App() {
  const [auth, setAuth] = useState<Auth>(() => (storedToken() ? { status: 'checking' } : { status: 'signed_out' }));
  const { path } = useLocation();

  useEffect(() => {
    if (auth.status === 'checking') void checkToken().then(setAuth);
  }, [auth.status]);

  const signOut = useCallback((message?: string) => {
    storeToken(null);
    setAuth({ status: 'signed_out', ...(message ? { message } : {}) });
  }, []);

  useEffect(() => {
    setUnauthorizedHandler(() => signOut('The API no longer accepts this token (401): sign in again.'));
    return () => setUnauthorizedHandler(undefined);
  }, [signOut]);

  const sessionState = useMemo(
    () => ({ session: auth.status === 'signed_in' ? auth.session : null, signOut: () => signOut() }),
    [auth, signOut],
  );

  if (auth.status === 'signed_out') {
    return (
      <LoginPage
        message={auth.message}
        onToken={(token) => {
          storeToken(token);
          setAuth({ status: 'checking' });
        }}
      />
    );
  }
  if (auth.status === 'checking') {
    return (
      <p className="notice notice-muted" role="status">
        Signing in…
      </p>
    );
  }
  return (
    <SessionContext.Provider value={sessionState}>
      <Layout>
        {auth.sessionNote ? (
          <p className="notice notice-muted" role="status">
            Session: not available on this server ({auth.sessionNote}); actions are hidden until it is.
          </p>
        ) : null}
        <Page path={path} />
      </Layout>
    </SessionContext.Provider>
  );
}
