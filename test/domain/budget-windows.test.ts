import {
  evaluateBudgets,
  generationOfKey,
  periodKey,
  policyWindowKey,
  startsNewGeneration,
  windowKey,
  type BudgetPolicy,
} from '../../src/domain/budget';

const now = new Date('2026-11-30T12:00:00Z'); // a Monday: ISO week 49
const policy: BudgetPolicy = {
  policyId: 'acme-daily',
  scope: { kind: 'tenant', id: 'acme' },
  metric: 'cost',
  window: 'day',
  softLimit: 700,
  hardLimit: 1_000,
  action: 'block',
  enabled: true,
};

describe('periodKey', () => {
  it('names the UTC calendar period', () => {
    expect(periodKey('day', now)).toBe('2026-11-30');
    expect(periodKey('week', now)).toBe('2026-W49');
    expect(periodKey('month', now)).toBe('2026-11');
    expect(periodKey('total', now)).toBe('total');
    expect(periodKey('day', new Date('2026-11-30T23:59:59.999Z'))).toBe('2026-11-30');
    expect(periodKey('week', new Date('2027-01-01T00:00:00Z'))).toBe('2026-W53'); // a Friday of 2026's last week
  });
});

describe('window generations', () => {
  it('keeps generation 1 keys exactly the plain period keys', () => {
    for (const window of ['day', 'week', 'month', 'total'] as const) {
      expect(windowKey(window, now)).toBe(periodKey(window, now));
      expect(windowKey(window, now, 1)).toBe(periodKey(window, now));
      expect(policyWindowKey({ window }, now)).toBe(periodKey(window, now));
    }
  });

  it('suffixes later generations and reads the generation back from a key', () => {
    expect(windowKey('day', now, 2)).toBe('2026-11-30#g2');
    expect(windowKey('week', now, 3)).toBe('2026-W49#g3');
    expect(windowKey('total', now, 12)).toBe('total#g12');
    expect(policyWindowKey({ window: 'month', generation: 2 }, now)).toBe('2026-11#g2');
    expect(generationOfKey('2026-11-30')).toBe(1);
    expect(generationOfKey('total')).toBe(1);
    expect(generationOfKey('2026-11-30#g2')).toBe(2);
    expect(generationOfKey('total#g12')).toBe(12);
    for (const generation of [1, 2, 7, 40]) {
      for (const window of ['day', 'week', 'month', 'total'] as const) {
        expect(generationOfKey(windowKey(window, now, generation))).toBe(generation);
      }
    }
  });

  it('starts a new generation when metric, window or scope (kind or id) change, not for limits, action or enabled', () => {
    const edit = (change: Partial<BudgetPolicy>): BudgetPolicy => ({ ...policy, ...change });
    expect(startsNewGeneration(policy, edit({ metric: 'tokens' }))).toBe(true);
    expect(startsNewGeneration(policy, edit({ window: 'week' }))).toBe(true);
    expect(startsNewGeneration(policy, edit({ scope: { kind: 'tenant', id: 'globex' } }))).toBe(true);
    expect(startsNewGeneration(policy, edit({ scope: { kind: 'model', id: 'acme' } }))).toBe(true);
    expect(startsNewGeneration(edit({ scope: { kind: 'global' } }), policy)).toBe(true);

    expect(startsNewGeneration(policy, edit({}))).toBe(false);
    expect(startsNewGeneration(policy, edit({ hardLimit: 5, softLimit: 1 }))).toBe(false);
    const { softLimit: _dropped, ...withoutSoft } = policy;
    expect(startsNewGeneration(policy, withoutSoft)).toBe(false);
    expect(startsNewGeneration(policy, edit({ action: 'approval_required', enabled: false }))).toBe(false);
    // A global scope read back from storage has no id; one written with `id: undefined` is the same scope.
    expect(startsNewGeneration(edit({ scope: { kind: 'global' } }), edit({ scope: { kind: 'global', id: undefined } }))).toBe(
      false,
    );
  });

  it('evaluates a policy against the window of its current generation', () => {
    const usage = new Map([
      ['acme-daily 2026-11-30', { spent: 1_000, reserved: 0 }], // generation 1, in µUSD
      ['acme-daily 2026-11-30#g2', { spent: 10, reserved: 5 }], // generation 2, in tokens
    ]);
    const lookup = (policyId: string, key: string) => usage.get(`${policyId} ${key}`) ?? { spent: 0, reserved: 0 };
    const [first] = evaluateBudgets([policy], lookup, null, now);
    expect(first).toMatchObject({ periodKey: '2026-11-30', consumed: 1_000, status: 'hard_limit' });
    const [second] = evaluateBudgets([{ ...policy, metric: 'tokens', generation: 2 }], lookup, null, now);
    expect(second).toMatchObject({ periodKey: '2026-11-30#g2', consumed: 10, reserved: 5, status: 'ok' });
  });
});
