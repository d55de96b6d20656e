import { createContext, useContext } from 'react';
import type { Capability, Session } from './api/types';

export interface SessionState {
  /** The token's identity and what it may do; null when /v1/session is not available on this server. */
  session: Session | null;
  signOut(): void;
}

export const SessionContext = createContext<SessionState>({ session: null, signOut: () => undefined });

export function useSession(): SessionState {
  return useContext(SessionContext);
}

/**
 * Whether the signed-in token may do this. Buttons that would answer 403 are not shown at all; without
 * a session answer nothing is assumed allowed.
 */
export function useCan(capability: Capability): boolean {
  return useContext(SessionContext).session?.can[capability] ?? false;
}

const roleOrder = ['service', 'operator', 'sre', 'admin'] as const;

/** Reading pages (incidents, budgets) needs operator: a service token is not shown parts it would get 403 for. */
export function useRoleAtLeast(role: (typeof roleOrder)[number]): boolean {
  const session = useContext(SessionContext).session;
  if (!session) return true; // unknown: let the API answer, and show its error
  return roleOrder.indexOf(session.role) >= roleOrder.indexOf(role);
}
