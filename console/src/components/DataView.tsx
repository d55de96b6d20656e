import type { ReactNode } from 'react';
import type { ApiError } from '../api/client';
import type { Resource } from '../hooks/useResource';

export function ErrorView({ error, what }: { error: ApiError; what: string }) {
  if (error.notAvailable) {
    return (
      <p className="notice notice-muted" role="status">
        {what}: not available on this server ({error.message}).
      </p>
    );
  }
  return (
    <p className="notice notice-error" role="alert">
      Could not load {what}: <code>{error.code}</code> {error.message}
    </p>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="notice notice-muted" role="status" aria-live="polite">
      Loading {what}…
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="notice notice-empty">{children}</p>;
}

/**
 * Every view of remote data has its loading, error and empty states. A failed refresh shows the error
 * above the data it already had, so the page does not blank out on a transient failure.
 */
export function DataView<T>({
  resource,
  what,
  isEmpty,
  empty,
  children,
}: {
  resource: Resource<T>;
  what: string;
  isEmpty?: (data: T) => boolean;
  empty?: ReactNode;
  children: (data: T) => ReactNode;
}) {
  const { data, error, loading } = resource;
  if (loading) return <Loading what={what} />;
  if (data === undefined) return error ? <ErrorView error={error} what={what} /> : null;
  return (
    <>
      {error ? <ErrorView error={error} what={what} /> : null}
      {isEmpty?.(data) ? <Empty>{empty ?? `No ${what}.`}</Empty> : children(data)}
    </>
  );
}
