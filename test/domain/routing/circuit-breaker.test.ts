import {
  circuitStateAt,
  closedCircuit,
  defaultCircuitBreakerSettings,
  providerHealthAt,
  recordOutcome,
  requestPass,
  type ProviderCircuit,
  type ProviderCircuits,
} from '../../../src/domain/routing';

const t0 = Date.UTC(2025, 0, 1, 12, 0, 0);
const provider = 'acme';

function feed(
  outcomes: readonly { ok: boolean; at: number }[],
  start: ProviderCircuits = {},
  settings = defaultCircuitBreakerSettings,
) {
  return outcomes.reduce((circuits, outcome) => recordOutcome(circuits, { providerId: provider, ...outcome }, settings), start);
}

function failures(count: number, from: number, everyMs = 1_000) {
  return Array.from({ length: count }, (_, i) => ({ ok: false, at: from + i * everyMs }));
}

function circuitOf(circuits: ProviderCircuits): ProviderCircuit {
  return circuits[provider] ?? closedCircuit();
}

/** A breaker opened by five failures, the last at t0 + 4 s. */
const openedAt = t0 + 4_000;
const opened = feed(failures(5, t0));

describe('circuit breaker', () => {
  it('stays closed for a provider that has reported nothing', () => {
    expect(providerHealthAt({}, t0)).toEqual({});
    expect(requestPass({}, provider, t0).allowed).toBe(true);
  });

  it('opens after five consecutive failures, not four', () => {
    const four = feed(failures(4, t0));
    expect(circuitStateAt(circuitOf(four), t0 + 4_000)).toBe('closed');
    expect(circuitOf(opened)).toMatchObject({ state: 'open', openedAt });
    expect(requestPass(opened, provider, openedAt + 1).allowed).toBe(false);
  });

  it('counts only consecutive failures: a success in between starts the count again', () => {
    const circuits = feed([...failures(4, t0), { ok: true, at: t0 + 4_500 }, ...failures(4, t0 + 5_000)]);
    expect(circuitStateAt(circuitOf(circuits), t0 + 10_000)).toBe('closed');
  });

  it('takes the consecutive-failure threshold from its settings', () => {
    const settings = { ...defaultCircuitBreakerSettings, consecutiveFailures: 2 };
    expect(circuitOf(feed(failures(2, t0), {}, settings)).state).toBe('open');
  });

  it('opens when more than half of the last minute failed, without five failures in a row', () => {
    // ok, fail, fail, repeated: never more than two failures in a row, two thirds failed.
    const outcomes = Array.from({ length: 12 }, (_, i) => ({ ok: i % 3 === 0, at: t0 + i * 1_000 }));
    const beforeMinimum = feed(outcomes.slice(0, 8));
    expect(circuitOf(beforeMinimum).state).toBe('closed');
    const circuits = feed(outcomes);
    expect(circuitOf(circuits).state).toBe('open');
    // The window reaches ten outcomes with a success; the next failure (7 of 11 failed) opens it.
    expect(circuitOf(circuits).openedAt).toBe(t0 + 10_000);
  });

  it('does not count outcomes that left the window towards the failure rate', () => {
    const settings = { ...defaultCircuitBreakerSettings, consecutiveFailures: 100 };
    const old = feed(failures(9, t0), {}, settings);
    // A minute and more later, the nine old failures no longer count: one new failure among ten is 10 %.
    const later = t0 + 120_000;
    const fresh = Array.from({ length: 10 }, (_, i) => ({ ok: i !== 9, at: later + i * 1_000 }));
    expect(circuitOf(feed(fresh, old, settings)).state).toBe('closed');
  });

  it('turns half-open when the cool-down (30 s by default) has passed since it opened', () => {
    const circuit = circuitOf(opened);
    expect(circuitStateAt(circuit, openedAt + 29_999)).toBe('open');
    expect(circuitStateAt(circuit, openedAt + 30_000)).toBe('half_open');
    expect(providerHealthAt(opened, openedAt + 30_000)).toEqual({ [provider]: 'half_open' });
  });

  it('lets exactly one probe through while half-open, and another once a probe is lost for a cool-down', () => {
    const probeAt = openedAt + 30_000;
    const first = requestPass(opened, provider, probeAt);
    expect(first.allowed).toBe(true);
    expect(requestPass(first.circuits, provider, probeAt + 1_000).allowed).toBe(false);
    expect(requestPass(first.circuits, provider, probeAt + 30_000).allowed).toBe(true);
  });

  it('closes on a successful probe and then lets every call through', () => {
    const probeAt = openedAt + 30_000;
    const { circuits } = requestPass(opened, provider, probeAt);
    const closed = recordOutcome(circuits, { providerId: provider, ok: true, at: probeAt + 500 });
    expect(circuitOf(closed)).toEqual(closedCircuit());
    expect(requestPass(closed, provider, probeAt + 600).allowed).toBe(true);
  });

  it('opens again on a failed probe, for another full cool-down', () => {
    const probeAt = openedAt + 30_000;
    const { circuits } = requestPass(opened, provider, probeAt);
    const reopened = recordOutcome(circuits, { providerId: provider, ok: false, at: probeAt + 500 });
    const circuit = circuitOf(reopened);
    expect(circuit).toMatchObject({ state: 'open', openedAt: probeAt + 500 });
    expect(circuitStateAt(circuit, probeAt + 500 + 29_999)).toBe('open');
    expect(circuitStateAt(circuit, probeAt + 500 + 30_000)).toBe('half_open');
  });

  it('ignores the late success of a call that started before the breaker opened', () => {
    const late = recordOutcome(opened, { providerId: provider, ok: true, at: openedAt + 1_000 });
    expect(circuitOf(late)).toEqual(circuitOf(opened));
  });

  it('keeps each provider separate', () => {
    const circuits = recordOutcome(opened, { providerId: 'frontier', ok: true, at: openedAt });
    expect(providerHealthAt(circuits, openedAt + 1)).toEqual({ [provider]: 'open', frontier: 'closed' });
  });

  it('keeps a plain JSON state that survives a round trip', () => {
    expect(JSON.parse(JSON.stringify(opened))).toEqual(opened);
  });

  it.each([{ consecutiveFailures: 0 }, { cooldownMs: -1 }, { failureRate: 0 }, { failureRate: 1.5 }, { windowMs: 1.5 }])(
    'rejects invalid settings %p',
    (bad) => {
      expect(() =>
        recordOutcome({}, { providerId: provider, ok: false, at: t0 }, { ...defaultCircuitBreakerSettings, ...bad }),
      ).toThrow(RangeError);
    },
  );
});
