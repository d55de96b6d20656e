import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError } from '../api/client';

export interface Resource<T> {
  data: T | undefined;
  error: ApiError | undefined;
  /** The first load of these inputs is under way (nothing to show yet). */
  loading: boolean;
  refresh(): Promise<void>;
  /** When the data on screen was fetched. */
  updatedAt: Date | undefined;
}

function asApiError(error: unknown): ApiError {
  return error instanceof ApiError ? error : new ApiError(0, 'client_error', (error as Error).message ?? String(error));
}

/**
 * Loads `load()` when `key` changes and again every `intervalMs` (live refresh). A refresh keeps what
 * is on screen until the new answer arrives, so a user reading a table or filling a form never loses
 * their place; an answer for inputs the page has since left is dropped. Polling pauses in a hidden tab.
 */
export function useResource<T>(
  load: () => Promise<T>,
  key: string,
  options: { intervalMs?: number; enabled?: boolean } = {},
): Resource<T> {
  const { intervalMs, enabled = true } = options;
  const [state, setState] = useState<{ key: string; data?: T; error?: ApiError; updatedAt?: Date }>({ key });
  const loadRef = useRef(load);
  loadRef.current = load;
  const sequence = useRef(0);

  const refresh = useCallback(async () => {
    const mine = ++sequence.current;
    try {
      const data = await loadRef.current();
      if (mine === sequence.current) setState({ key, data, updatedAt: new Date() });
    } catch (error) {
      // A failed refresh keeps the last good data beside the error.
      if (mine === sequence.current)
        setState((previous) => ({ ...(previous.key === key ? previous : {}), key, error: asApiError(error) }));
    }
  }, [key]);

  useEffect(() => {
    if (!enabled) return;
    void refresh();
    if (!intervalMs) return;
    const timer = window.setInterval(() => {
      if (!document.hidden) void refresh();
    }, intervalMs);
    return () => window.clearInterval(timer);
  }, [refresh, intervalMs, enabled]);

  const current = state.key === key ? state : { key };
  return {
    data: current.data,
    error: current.error,
    loading: enabled && current.data === undefined && current.error === undefined,
    refresh,
    updatedAt: current.updatedAt,
  };
}
