import { useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent, type ReactNode } from 'react';

/**
 * A small history router: the console lives under /console and the server answers index.html for every
 * path below it, so a page's URL (with its filters in the query) can be reloaded, bookmarked and shared.
 */
export const basePath = '/console';
const changeEvent = 'palyra:navigate';

function subscribe(onChange: () => void): () => void {
  window.addEventListener('popstate', onChange);
  window.addEventListener(changeEvent, onChange);
  return () => {
    window.removeEventListener('popstate', onChange);
    window.removeEventListener(changeEvent, onChange);
  };
}

const snapshot = () => window.location.pathname + window.location.search;

export interface Location {
  /** The path below /console, starting with `/`. */
  path: string;
  query: URLSearchParams;
}

export function useLocation(): Location {
  const current = useSyncExternalStore(subscribe, snapshot);
  const url = new URL(current, window.location.origin);
  const below = url.pathname.startsWith(basePath) ? url.pathname.slice(basePath.length) : url.pathname;
  return { path: below === '' ? '/' : below, query: url.searchParams };
}

export function href(to: string): string {
  return to.startsWith('/') ? basePath + (to === '/' ? '' : to) : to;
}

export function navigate(to: string, options: { replace?: boolean } = {}): void {
  const target = href(to);
  if (target === snapshot()) return;
  if (options.replace) window.history.replaceState(null, '', target);
  else window.history.pushState(null, '', target);
  window.dispatchEvent(new Event(changeEvent));
  if (!options.replace) window.scrollTo(0, 0);
}

/** Replaces the query of the current page (filters, page cursors) without a new history entry per keystroke. */
export function setQuery(values: Record<string, string | undefined>, options: { push?: boolean } = {}): void {
  const params = new URLSearchParams(window.location.search);
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined || value === '') params.delete(key);
    else params.set(key, value);
  }
  const text = params.toString();
  const target = window.location.pathname + (text ? `?${text}` : '');
  if (options.push) window.history.pushState(null, '', target);
  else window.history.replaceState(null, '', target);
  window.dispatchEvent(new Event(changeEvent));
}

/** Matches `/runs/:runId` against a path; answers the parameters, or undefined. */
export function match(pattern: string, path: string): Record<string, string> | undefined {
  const want = pattern.split('/').filter(Boolean);
  const have = path.split('/').filter(Boolean);
  if (want.length !== have.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const part = want[i] as string;
    const value = have[i] as string;
    if (part.startsWith(':')) params[part.slice(1)] = decodeURIComponent(value);
    else if (part !== value) return undefined;
  }
  return params;
}

export function Link({ to, children, ...rest }: { to: string; children: ReactNode } & AnchorHTMLAttributes<HTMLAnchorElement>) {
  const onClick = (event: MouseEvent<HTMLAnchorElement>) => {
    rest.onClick?.(event);
    // Let the browser handle new tabs and windows.
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(to);
  };
  return (
    <a {...rest} href={href(to)} onClick={onClick}>
      {children}
    </a>
  );
}
