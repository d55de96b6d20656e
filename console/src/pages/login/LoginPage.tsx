import { useEffect, useState } from 'react';

/** Asks for the API token; it is kept in this tab's session storage only, never in the URL. */
export function LoginPage({ message, onToken }: { message?: string | undefined; onToken(token: string): void }) {
  const [token, setToken] = useState('');
  useEffect(() => {
    document.title = 'Sign in · Palyra';
  }, []);
  return (
    <main className="login" id="main">
      <h1>
        Palyra <span>Operations console</span>
      </h1>
      <form
        className="card"
        autoComplete="off"
        onSubmit={(event) => {
          event.preventDefault();
          if (token.trim()) onToken(token.trim());
        }}
      >
        <label className="field" htmlFor="token">
          API token
          <input id="token" name="token" type="password" required value={token} onChange={(e) => setToken(e.target.value)} />
        </label>
        <p className="hint">
          A bearer token from <code>auth.tokens</code> (or <code>.palyra/admin.token</code> under <code>palyra dev</code>). It is
          kept for this tab only.
        </p>
        {message ? (
          <p className="notice notice-error" role="alert">
            {message}
          </p>
        ) : null}
        <button type="submit" className="button button-primary">
          Sign in
        </button>
      </form>
    </main>
  );
}
