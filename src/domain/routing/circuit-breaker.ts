/**
 * A circuit breaker per provider, as pure functions over a plain (JSON-serializable) state value.
 * Time is always an argument (`at`, `now`, epoch ms), never read from a clock, so the same history
 * gives the same answer in a worker, a workflow or a test.
 *
 * closed → open: `consecutiveFailures` failures in a row, or more than `failureRate` of the
 *   outcomes of the last `windowMs` failed (once the window holds `minimumCalls` outcomes).
 * open → half_open: `cooldownMs` after it opened (read with `circuitStateAt`; nothing has to tick).
 * half_open: one probe call may go (`requestPass`); its success closes the breaker, its failure
 *   opens it again for another cool-down.
 */
export const breakerStates = ['closed', 'open', 'half_open'] as const;
export type BreakerState = (typeof breakerStates)[number];

export interface CircuitBreakerSettings {
  consecutiveFailures: number;
  /** A fraction in (0, 1]: the breaker opens when the failed share of the window is above it. */
  failureRate: number;
  windowMs: number;
  /** Fewer outcomes than this in the window say too little for a rate. */
  minimumCalls: number;
  cooldownMs: number;
}

export const defaultCircuitBreakerSettings: Readonly<CircuitBreakerSettings> = {
  consecutiveFailures: 5,
  failureRate: 0.5,
  windowMs: 60_000,
  minimumCalls: 10,
  cooldownMs: 30_000,
};

export interface ProviderOutcome {
  providerId: string;
  ok: boolean;
  /** Epoch ms when the call finished. */
  at: number;
}

/** Outcome counts of one slice of the failure-rate window. */
export interface OutcomeSlice {
  start: number;
  ok: number;
  failed: number;
}

export interface ProviderCircuit {
  /** As last recorded: an `open` circuit past its cool-down reads as `half_open` (see circuitStateAt). */
  state: BreakerState;
  consecutiveFailures: number;
  openedAt: number | null;
  /** When the half-open probe was let through; null while none is out. */
  probeStartedAt: number | null;
  /** Counts in fixed slices rather than every outcome, so the state stays small under heavy traffic. */
  slices: OutcomeSlice[];
}

/** Circuits by provider id; a provider without an entry has reported nothing and is closed. */
export type ProviderCircuits = Readonly<Record<string, ProviderCircuit>>;

const slicesPerWindow = 10;

export function closedCircuit(): ProviderCircuit {
  return { state: 'closed', consecutiveFailures: 0, openedAt: null, probeStartedAt: null, slices: [] };
}

export function circuitStateAt(
  circuit: ProviderCircuit,
  now: number,
  settings: CircuitBreakerSettings = defaultCircuitBreakerSettings,
): BreakerState {
  if (circuit.state === 'open' && circuit.openedAt !== null && now - circuit.openedAt >= settings.cooldownMs) return 'half_open';
  return circuit.state;
}

/** The state of every known provider at `now`: the `providerHealth` input of `planRoute`. */
export function providerHealthAt(
  circuits: ProviderCircuits,
  now: number,
  settings: CircuitBreakerSettings = defaultCircuitBreakerSettings,
): Record<string, BreakerState> {
  return Object.fromEntries(
    Object.entries(circuits).map(([providerId, circuit]) => [providerId, circuitStateAt(circuit, now, settings)]),
  );
}

export function recordOutcome(
  circuits: ProviderCircuits,
  outcome: ProviderOutcome,
  settings: CircuitBreakerSettings = defaultCircuitBreakerSettings,
): ProviderCircuits {
  requireValidSettings(settings);
  const circuit = circuits[outcome.providerId] ?? closedCircuit();
  return { ...circuits, [outcome.providerId]: nextCircuit(circuit, outcome, settings) };
}

/**
 * Whether a call to the provider may go now. Closed: yes. Open: no. Half-open: only one probe at a
 * time; a probe that has not reported within a cool-down is taken as lost, so a crashed caller
 * cannot keep the provider shut for good.
 */
export function requestPass(
  circuits: ProviderCircuits,
  providerId: string,
  now: number,
  settings: CircuitBreakerSettings = defaultCircuitBreakerSettings,
): { allowed: boolean; circuits: ProviderCircuits } {
  const circuit = circuits[providerId] ?? closedCircuit();
  const state = circuitStateAt(circuit, now, settings);
  if (state === 'closed') return { allowed: true, circuits };
  if (state === 'open') return { allowed: false, circuits };
  const probeOut = circuit.probeStartedAt !== null && now - circuit.probeStartedAt < settings.cooldownMs;
  if (probeOut) return { allowed: false, circuits };
  return { allowed: true, circuits: { ...circuits, [providerId]: { ...circuit, state: 'half_open', probeStartedAt: now } } };
}

function nextCircuit(circuit: ProviderCircuit, outcome: ProviderOutcome, settings: CircuitBreakerSettings): ProviderCircuit {
  switch (circuitStateAt(circuit, outcome.at, settings)) {
    case 'open':
      // The late answer of a call that started before the breaker opened: it proves nothing new.
      return circuit;
    case 'half_open':
      return outcome.ok ? closedCircuit() : openCircuit(outcome.at, circuit.consecutiveFailures + 1);
    case 'closed':
      return nextClosedCircuit(circuit, outcome, settings);
  }
}

function nextClosedCircuit(
  circuit: ProviderCircuit,
  outcome: ProviderOutcome,
  settings: CircuitBreakerSettings,
): ProviderCircuit {
  const slices = countInWindow(circuit.slices, outcome, settings);
  const consecutiveFailures = outcome.ok ? 0 : circuit.consecutiveFailures + 1;
  const trips = !outcome.ok && (consecutiveFailures >= settings.consecutiveFailures || failureRateTooHigh(slices, settings));
  if (trips) return openCircuit(outcome.at, consecutiveFailures);
  return { ...closedCircuit(), consecutiveFailures, slices };
}

/** The window starts empty after opening: failures from before the cool-down must not trip it again. */
function openCircuit(at: number, consecutiveFailures: number): ProviderCircuit {
  return { state: 'open', consecutiveFailures, openedAt: at, probeStartedAt: null, slices: [] };
}

function countInWindow(
  slices: readonly OutcomeSlice[],
  outcome: ProviderOutcome,
  settings: CircuitBreakerSettings,
): OutcomeSlice[] {
  const sliceMs = Math.ceil(settings.windowMs / slicesPerWindow);
  const start = outcome.at - (((outcome.at % sliceMs) + sliceMs) % sliceMs);
  const recent = slices.filter((slice) => slice.start > outcome.at - settings.windowMs && slice.start !== start);
  const current = slices.find((slice) => slice.start === start) ?? { start, ok: 0, failed: 0 };
  const counted = outcome.ok ? { ...current, ok: current.ok + 1 } : { ...current, failed: current.failed + 1 };
  return [...recent, counted].sort((a, b) => a.start - b.start);
}

function failureRateTooHigh(slices: readonly OutcomeSlice[], settings: CircuitBreakerSettings): boolean {
  const failed = slices.reduce((sum, slice) => sum + slice.failed, 0);
  const total = slices.reduce((sum, slice) => sum + slice.ok + slice.failed, 0);
  return total >= settings.minimumCalls && failed > total * settings.failureRate;
}

function requireValidSettings(settings: CircuitBreakerSettings): void {
  const counts = [
    ['consecutiveFailures', settings.consecutiveFailures],
    ['windowMs', settings.windowMs],
    ['minimumCalls', settings.minimumCalls],
    ['cooldownMs', settings.cooldownMs],
  ] as const;
  for (const [name, value] of counts) {
    if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  if (!(settings.failureRate > 0 && settings.failureRate <= 1)) {
    throw new RangeError(`failureRate must be in (0, 1], got ${settings.failureRate}`);
  }
}
