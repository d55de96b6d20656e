/**
 * Model-based property test of the ledger: random sequences of reserve / settle / release /
 * expire / clock-advance / policy-change run against the real store and against a deliberately
 * simple in-memory reference, compared after every step, with invariants I1–I6 checked each time.
 *
 * Two commands interleave calls: several callers resolving one reservation at once (settle,
 * release, the sweeper, a second settle) and several reserves at once. On PostgreSQL the calls go
 * through two repositories on their own connection pools, so their transactions really overlap;
 * on SQLite through the one repository (better-sqlite3 is synchronous: a second connection in
 * this process would block the event loop waiting for the lock). The winner is nondeterministic,
 * so the test reads what the store decided and checks that the model allows it.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { periodKey, policyApplies, type BudgetPolicy, type RunScope } from '../../src/domain/budget';
import { costMicroUsd, type ModelPrice } from '../../src/domain/pricing';
import {
  createLedgerRepository,
  type LedgerRepository,
  type ReserveOutcome,
  type ReserveRequest,
  type ResolutionOutcome,
} from '../../src/ledger';
import { ledgerDialects, openTestLedger, type TestLedger } from '../support/ledger';

const prices: ModelPrice[] = [
  { inputMicroUsdPerMTok: 2_500_000, outputMicroUsdPerMTok: 10_000_000 },
  { inputMicroUsdPerMTok: 150_000, outputMicroUsdPerMTok: 600_000 },
];
const scopes: RunScope[] = [
  { tenantId: 'acme', principalId: 'a', modelId: 'm1' },
  { tenantId: 'acme', principalId: 'b', modelId: 'm2' },
  { tenantId: 'globex', principalId: 'a', modelId: 'm1' },
];
const sweepIntervalMs = 60_000;

type Metric = 'cost' | 'tokens';
type Usage = { spent: number; reserved: number };
type Settled = Extract<ResolutionOutcome, { status: 'settled' }>;

interface ModelPolicy extends BudgetPolicy {
  generation: number;
}

interface ModelReservation {
  id: string;
  state: 'pending' | 'settled' | 'released' | 'expired' | 'refused';
  holds: { policyId: string; periodKey: string; metric: Metric; amount: number }[];
  price: ModelPrice;
  expiresAt: number;
  outcome: ReserveOutcome;
  resolution?: ResolutionOutcome;
}

class ReferenceLedger {
  now = Date.parse('2026-11-27T10:00:00Z');
  policies = new Map<string, ModelPolicy>();
  windows = new Map<string, Usage>();
  reservations: ModelReservation[] = [];
  window(policyId: string, key: string): Usage {
    const id = `${policyId} ${key}`;
    if (!this.windows.has(id)) this.windows.set(id, { spent: 0, reserved: 0 });
    return this.windows.get(id) as Usage;
  }
  /** The window a policy books into now: its period, with `#g<n>` past the first generation. */
  keyOf(policy: ModelPolicy): string {
    const period = periodKey(policy.window, new Date(this.now));
    return policy.generation > 1 ? `${period}#g${policy.generation}` : period;
  }
  /**
   * A policy put as given: a new generation (fresh windows) when its metric, window or scope
   * changes; limits, soft limit, action and enabled keep the windows.
   */
  upsert(policy: BudgetPolicy): ModelPolicy {
    const existing = this.policies.get(policy.policyId);
    const fresh =
      existing !== undefined &&
      (existing.metric !== policy.metric ||
        existing.window !== policy.window ||
        existing.scope.kind !== policy.scope.kind ||
        existing.scope.id !== policy.scope.id);
    const stored = { ...policy, generation: (existing?.generation ?? 0) + (existing && !fresh ? 0 : 1) };
    this.policies.set(policy.policyId, stored);
    return stored;
  }

  release(r: ModelReservation, state: 'released' | 'expired'): void {
    r.holds.forEach((h) => (this.window(h.policyId, h.periodKey).reserved -= h.amount));
    r.state = state;
    r.resolution = { status: state, reservationId: r.id };
  }

  /** Books the usage into the reservation's own windows; after expiry the hold is already gone. */
  settle(r: ModelReservation, usage: { inputTokens: number; outputTokens: number }): Settled {
    const afterExpiry = r.state === 'expired';
    const cost = costMicroUsd(r.price, usage);
    const tokens = usage.inputTokens + usage.outputTokens;
    for (const hold of r.holds) {
      const w = this.window(hold.policyId, hold.periodKey);
      if (!afterExpiry) w.reserved -= hold.amount;
      w.spent += hold.metric === 'cost' ? cost : tokens;
    }
    const admitted = r.outcome as Extract<ReserveOutcome, { status: 'admitted' }>;
    const resolution: Settled = afterExpiry
      ? { status: 'settled', reservationId: r.id, costMicroUsd: cost, tokens, overage: true, afterExpiry: true }
      : {
          status: 'settled',
          reservationId: r.id,
          costMicroUsd: cost,
          tokens,
          overage: cost > admitted.amountMicroUsd || tokens > admitted.tokens,
        };
    r.state = 'settled';
    r.resolution = resolution;
    return resolution;
  }

  /** What settling with this usage would answer, without booking it. */
  wouldSettle(r: ModelReservation, usage: { inputTokens: number; outputTokens: number }): Settled {
    const saved = { state: r.state, resolution: r.resolution, windows: cloneWindows(this.windows) };
    const resolution = this.settle(r, usage);
    Object.assign(r, { state: saved.state, resolution: saved.resolution });
    this.windows = saved.windows;
    return resolution;
  }
}

function cloneWindows(windows: Map<string, Usage>): Map<string, Usage> {
  return new Map([...windows].map(([id, w]) => [id, { ...w }]));
}

interface Real {
  ledger: TestLedger;
  clock: { now: number };
  /** Who the interleaved calls go through: on PostgreSQL also a repository on a pool of its own. */
  repos: LedgerRepository[];
}

type Cmd = fc.AsyncCommand<ReferenceLedger, Real>;

async function compareWindows(model: ReferenceLedger, real: Real): Promise<void> {
  const rows = await real.ledger.connection.db.selectFrom('policy_windows').selectAll().execute();
  const actual = Object.fromEntries(
    rows
      .filter((r) => r.spent !== 0 || r.reserved !== 0)
      .map((r) => [`${r.policy_id} ${r.period_key}`, { spent: r.spent, reserved: r.reserved }]),
  );
  const expected = Object.fromEntries([...model.windows].filter(([, w]) => w.spent !== 0 || w.reserved !== 0));
  expect(actual).toEqual(expected);
  expect(await real.ledger.invariants(new Date(model.now), sweepIntervalMs)).toEqual([]);
}

/** The usage report reads each policy's current generation: the window the model books into now. */
async function compareUsage(model: ReferenceLedger, real: Real): Promise<void> {
  const report = await real.ledger.repo.usageReport(new Date(model.now));
  expect(report.map((w) => ({ policyId: w.policyId, periodKey: w.periodKey, spent: w.spent, reserved: w.reserved }))).toEqual(
    [...model.policies.values()]
      .sort((a, b) => (a.policyId < b.policyId ? -1 : 1))
      .map((p) => ({ policyId: p.policyId, periodKey: model.keyOf(p), ...model.window(p.policyId, model.keyOf(p)) })),
  );
}

// ---- reserving -----------------------------------------------------------------------------------

interface ReserveParams {
  scopeIndex: number;
  priceIndex: number;
  inputTokens: number;
  maxOutputTokens: number;
  ttlMinutes: number;
  approved: boolean;
}

const describeReserve = (p: ReserveParams) =>
  `scope ${p.scopeIndex}, in ${p.inputTokens}, out ${p.maxOutputTokens}, ttl ${p.ttlMinutes}m${p.approved ? ', approved' : ''}`;

function reserveRequest(model: ReferenceLedger, id: string, p: ReserveParams): ReserveRequest {
  return {
    reservationId: id,
    runId: `run-${id}`,
    scope: scopes[p.scopeIndex] as RunScope,
    inputTokens: p.inputTokens,
    maxOutputTokens: p.maxOutputTokens,
    price: prices[p.priceIndex] as ModelPrice,
    catalogVersion: 'v1',
    expiresAt: new Date(model.now + p.ttlMinutes * 60_000),
    ...(p.approved ? { approvalOverride: { approvalId: `approval-${id}`, approvedBy: 'sre' } } : {}),
  };
}

interface Prediction {
  /** The output tokens admitted, -1 when refused. */
  granted: number;
  /** Refused: the policies any of which may be named (each one the request does not fit). */
  violating: ModelPolicy[];
  holds: ModelReservation['holds'];
  cost: number;
  tokens: number;
}

/** What the reference admits for this request against its windows now (changes nothing but lazily created zero windows). */
function predictReserve(model: ReferenceLedger, p: ReserveParams): Prediction {
  const scope = scopes[p.scopeIndex] as RunScope;
  const price = prices[p.priceIndex] as ModelPrice;
  const applicable = [...model.policies.values()].filter((policy) => policyApplies(policy, scope));
  const binding = applicable.filter((policy) => !(p.approved && policy.action === 'approval_required'));
  const amount = (metric: Metric, out: number) =>
    metric === 'cost' ? costMicroUsd(price, { inputTokens: p.inputTokens, outputTokens: out }) : p.inputTokens + out;
  const fits = (policy: ModelPolicy, out: number) => {
    const w = model.window(policy.policyId, model.keyOf(policy));
    return w.spent + w.reserved + amount(policy.metric, out) <= policy.hardLimit;
  };
  // Brute force: the largest output that fits, down to 1 (or 0 when 0 was asked for).
  let granted = -1;
  for (let out = p.maxOutputTokens; out >= Math.min(1, p.maxOutputTokens); out--) {
    if (binding.every((policy) => fits(policy, out))) {
      granted = out;
      break;
    }
  }
  if (granted < 0) {
    const violating = binding.filter((policy) => !fits(policy, Math.min(1, p.maxOutputTokens)));
    return { granted, violating, holds: [], cost: 0, tokens: 0 };
  }
  return {
    granted,
    violating: [],
    holds: applicable.map((policy) => ({
      policyId: policy.policyId,
      periodKey: model.keyOf(policy),
      metric: policy.metric,
      amount: amount(policy.metric, granted),
    })),
    cost: amount('cost', granted),
    tokens: amount('tokens', granted),
  };
}

/** Whether the real outcome is the one the reference predicts (a refusal may name any policy it does not fit). */
function agrees(model: ReferenceLedger, prediction: Prediction, outcome: ReserveOutcome, p: ReserveParams): boolean {
  if (prediction.granted < 0) {
    if (outcome.status !== 'refused') return false;
    const policy = prediction.violating.find((v) => v.policyId === outcome.refusal.policyId);
    if (!policy) return false;
    const w = model.window(policy.policyId, model.keyOf(policy));
    const { periodKey: key, spent, reserved, limit, metric } = outcome.refusal;
    return (
      key === model.keyOf(policy) &&
      spent === w.spent &&
      reserved === w.reserved &&
      limit === policy.hardLimit &&
      metric === policy.metric
    );
  }
  return (
    outcome.status === 'admitted' &&
    outcome.maxOutputTokens === prediction.granted &&
    outcome.clamped === prediction.granted < p.maxOutputTokens &&
    outcome.amountMicroUsd === prediction.cost &&
    outcome.tokens === prediction.tokens
  );
}

/** Books an outcome the reference agreed with. */
function absorb(
  model: ReferenceLedger,
  id: string,
  p: ReserveParams,
  prediction: Prediction,
  outcome: ReserveOutcome,
): ModelReservation {
  const price = prices[p.priceIndex] as ModelPrice;
  if (prediction.granted < 0) return { id, state: 'refused', holds: [], price, expiresAt: 0, outcome };
  prediction.holds.forEach((h) => (model.window(h.policyId, h.periodKey).reserved += h.amount));
  return { id, state: 'pending', holds: prediction.holds, price, expiresAt: model.now + p.ttlMinutes * 60_000, outcome };
}

class ReserveCommand implements Cmd {
  constructor(
    readonly params: ReserveParams,
    readonly repeatPrevious: boolean,
  ) {}
  check = () => true;
  async run(model: ReferenceLedger, real: Real): Promise<void> {
    const previous = model.reservations[model.reservations.length - 1];
    if (this.repeatPrevious && previous) {
      // I5: the same key returns the same outcome and books nothing new.
      const again = await real.ledger.repo.reserve({
        ...reserveRequest(model, previous.id, { ...this.params, approved: false }),
      });
      expect(again).toEqual(previous.outcome);
      return compareWindows(model, real);
    }
    const id = `r${model.reservations.length + 1}`;
    const prediction = predictReserve(model, this.params);
    const outcome = await real.ledger.repo.reserve(reserveRequest(model, id, this.params));
    if (prediction.granted < 0) {
      expect(outcome.status).toBe('refused');
      if (outcome.status === 'refused') expect(prediction.violating.map((p) => p.policyId)).toContain(outcome.refusal.policyId);
    } else {
      expect(outcome).toMatchObject({
        status: 'admitted',
        maxOutputTokens: prediction.granted,
        clamped: prediction.granted < this.params.maxOutputTokens,
        amountMicroUsd: prediction.cost,
        tokens: prediction.tokens,
      });
    }
    expect(agrees(model, prediction, outcome, this.params)).toBe(true);
    model.reservations.push(absorb(model, id, this.params, prediction, outcome));
    return compareWindows(model, real);
  }
  toString = () => `reserve(${describeReserve(this.params)}${this.repeatPrevious ? ', repeat' : ''})`;
}

/**
 * Several reserves at once (different ids, overlapping scopes, optionally the first id twice):
 * some serial order of them must explain every outcome, and together they never pass a limit.
 */
class ConcurrentReserveCommand implements Cmd {
  constructor(
    readonly requests: ReserveParams[],
    readonly duplicateFirst: boolean,
  ) {}
  check = () => true;
  async run(model: ReferenceLedger, real: Real): Promise<void> {
    const base = model.reservations.length;
    const calls = this.requests.map((params, i) => ({ id: `r${base + i + 1}`, params }));
    const sent = this.duplicateFirst ? [...calls, calls[0] as (typeof calls)[number]] : calls;
    const outcomes = await Promise.all(
      sent.map((call, i) =>
        (real.repos[i % real.repos.length] as LedgerRepository).reserve(reserveRequest(model, call.id, call.params)),
      ),
    );
    // I5 under concurrency: the same id twice at once books once; both callers get its outcome.
    if (this.duplicateFirst) expect(outcomes[calls.length]).toEqual(outcomes[0]);

    const before = cloneWindows(model.windows);
    for (const order of permutations(calls.map((_, i) => i))) {
      model.windows = cloneWindows(before);
      const absorbed = new Map<number, ModelReservation>();
      for (const i of order) {
        const { id, params } = calls[i] as (typeof calls)[number];
        const prediction = predictReserve(model, params);
        if (!agrees(model, prediction, outcomes[i] as ReserveOutcome, params)) break;
        absorbed.set(i, absorb(model, id, params, prediction, outcomes[i] as ReserveOutcome));
      }
      if (absorbed.size < calls.length) continue;
      model.reservations.push(...calls.map((_, i) => absorbed.get(i) as ModelReservation));
      if (!this.requests.some((p) => p.approved)) {
        // Whatever their order, what they admitted together fits every hard limit it was booked against.
        for (const policy of model.policies.values()) {
          const id = `${policy.policyId} ${model.keyOf(policy)}`;
          const was = before.get(id) ?? { spent: 0, reserved: 0 };
          const now = model.windows.get(id) ?? was;
          const added = now.reserved - was.reserved;
          if (added > 0) expect(was.spent + was.reserved + added).toBeLessThanOrEqual(policy.hardLimit);
        }
      }
      return compareWindows(model, real);
    }
    model.windows = before;
    throw new Error(`no serial order of the concurrent reserves explains their outcomes: ${JSON.stringify(outcomes)}`);
  }
  toString = () =>
    `concurrentReserve(${this.requests.map((p) => `[${describeReserve(p)}]`).join(' ')}${this.duplicateFirst ? ', first twice' : ''})`;
}

function permutations(items: number[]): number[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]));
}

// ---- resolving -----------------------------------------------------------------------------------

class ResolveCommand implements Cmd {
  constructor(
    readonly kind: 'settle' | 'release',
    readonly pick: number,
    readonly actualInput: number,
    readonly actualOutput: number,
  ) {}
  check = (model: Readonly<ReferenceLedger>) => model.reservations.some((r) => r.state !== 'refused');
  async run(model: ReferenceLedger, real: Real): Promise<void> {
    const candidates = model.reservations.filter((r) => r.state !== 'refused');
    const target = candidates[this.pick % candidates.length] as ModelReservation;
    const usage = { inputTokens: this.actualInput, outputTokens: this.actualOutput };
    const outcome =
      this.kind === 'settle'
        ? await real.ledger.repo.settle({ reservationId: target.id, actual: usage })
        : await real.ledger.repo.release(target.id);
    const consumed = this.actualInput + this.actualOutput > 0;
    if (this.kind === 'settle' && (target.state === 'pending' || (target.state === 'expired' && consumed))) {
      // After expiry the hold went back already; what was consumed is still booked, as spend.
      expect(outcome).toEqual(model.settle(target, usage));
    } else if (this.kind === 'release' && target.state === 'pending') {
      model.release(target, 'released');
      expect(outcome).toEqual(target.resolution);
    } else {
      expect(outcome).toEqual(target.resolution); // I2: resolves at most once
    }
    return compareWindows(model, real);
  }
  toString = () => `${this.kind}(#${this.pick}, ${this.actualInput}/${this.actualOutput})`;
}

/**
 * One caller of a race. It starts `after` ms late (0: at once), about one database round trip per
 * ms, so that any of them may go first: the sweeper, whose select comes before its transaction,
 * would otherwise hardly ever win.
 */
type Racer = ({ kind: 'settle'; inputTokens: number; outputTokens: number } | { kind: 'release' } | { kind: 'expire' }) & {
  after: number;
};

/**
 * Several callers resolve one reservation at once: settles (each with its own usage), releases
 * and sweeps (`expireDue`), optionally at the reservation's expiry so the sweep is due too. The
 * store picks the winner; the model must allow it: one resolution, every caller's answer agreeing
 * with it, windows and invariants as the model updated for that winner.
 */
class ConcurrentResolveCommand implements Cmd {
  constructor(
    readonly pick: number,
    readonly racers: Racer[],
    readonly atExpiry: boolean,
  ) {}
  check = (model: Readonly<ReferenceLedger>) => model.reservations.some((r) => r.state !== 'refused');
  async run(model: ReferenceLedger, real: Real): Promise<void> {
    const candidates = model.reservations.filter((r) => r.state !== 'refused');
    const pending = candidates.filter((r) => r.state === 'pending');
    // Mostly a pending one (the interesting race); sometimes one resolved already.
    const pool = pending.length > 0 && this.pick % 4 !== 0 ? pending : candidates;
    const target = pool[this.pick % pool.length] as ModelReservation;
    if (this.atExpiry && target.state === 'pending' && target.expiresAt > model.now) {
      // The sweeper keeps up until just before the target's expiry (I4 assumes it runs every
      // interval); then the target is due, along with any other hold expiring at the same instant.
      model.now = target.expiresAt - 1;
      real.clock.now = model.now;
      await new ExpireCommand().run(model, real);
      model.now = target.expiresAt;
      real.clock.now = model.now;
    }
    const at = new Date(model.now);
    const before = target.state;
    const earlier = target.resolution;
    const sweeps = this.racers.filter((r) => r.kind === 'expire').length;
    const dueOthers = model.reservations.filter((r) => r !== target && r.state === 'pending' && r.expiresAt <= model.now);

    const answers = await Promise.all(
      this.racers.map(async (racer, i) => {
        const repo = real.repos[i % real.repos.length] as LedgerRepository;
        if (racer.after > 0) await delay(racer.after);
        if (racer.kind === 'settle')
          return repo.settle({
            reservationId: target.id,
            actual: { inputTokens: racer.inputTokens, outputTokens: racer.outputTokens },
          });
        if (racer.kind === 'release') return repo.release(target.id);
        return repo.expireDue(at);
      }),
    );

    const row = await real.ledger.connection.db
      .selectFrom('reservations')
      .select(['state', 'resolution'])
      .where('reservation_id', '=', target.id)
      .executeTakeFirstOrThrow();
    const settles = this.racers.filter((r): r is Extract<Racer, { kind: 'settle' }> => r.kind === 'settle');
    const consuming = settles.filter((s) => s.inputTokens + s.outputTokens > 0);
    const due = target.expiresAt <= model.now;
    const expired: ResolutionOutcome = { status: 'expired', reservationId: target.id };

    let targetSwept = false;
    if (row.resolution === null) {
      // Nobody could resolve it: only sweeps were racing, and it is not due yet.
      expect({ before, state: row.state, settlesOrReleases: this.racers.length - sweeps, due: due && sweeps > 0 }).toEqual({
        before: 'pending',
        state: 'pending',
        settlesOrReleases: 0,
        due: false,
      });
    } else {
      const final = JSON.parse(row.resolution) as ResolutionOutcome;
      expect(row.state).toBe(final.status);
      /** Which settle's booking the store kept, given the reservation's state when it claimed it. */
      const winner = (among: typeof settles) => {
        const won = among.find((s) => isDeepStrictEqual(model.wouldSettle(target, s), final));
        expect({ final, settledBy: won ? 'one of the settles' : 'none of them' }).toEqual({
          final,
          settledBy: 'one of the settles',
        });
        return won as (typeof settles)[number];
      };
      const afterExpiry = final.status === 'settled' && final.afterExpiry === true;

      if (before === 'settled' || before === 'released') {
        expect(final).toEqual(earlier); // resolved already: nobody changes it
      } else if (before === 'expired') {
        // A late settle still books what was consumed: one of them, once.
        if (consuming.length > 0) model.settle(target, winner(consuming));
        else expect(final).toEqual(expired);
      } else if (final.status === 'released') {
        expect(this.racers.some((r) => r.kind === 'release')).toBe(true);
        model.release(target, 'released');
      } else if (final.status === 'expired') {
        // The sweep won, and no settle with usage to book came after it (that usage is never dropped).
        expect({ sweeps: sweeps > 0, due, consuming: consuming.length }).toEqual({ sweeps: true, due: true, consuming: 0 });
        model.release(target, 'expired');
        targetSwept = true;
      } else if (afterExpiry) {
        // The sweep expired it first, then a settle booked its usage after the expiry.
        expect({ sweeps: sweeps > 0, due }).toEqual({ sweeps: true, due: true });
        model.release(target, 'expired');
        model.settle(target, winner(consuming));
        targetSwept = true;
      } else {
        model.settle(target, winner(settles));
      }
      expect(target.resolution).toEqual(final);

      // Every settle and release answered the resolution, or the expiry that it replaced when a
      // late settle came after the sweep (a caller between the two saw the reservation expired).
      const seen = final.status === 'expired' || afterExpiry ? [final, expired] : [final];
      this.racers.forEach((racer, i) => {
        if (racer.kind !== 'expire') expect(seen).toContainEqual(answers[i]);
      });
    }
    // The sweeps expired, between them and each once, the target if the expiry won and whatever else was due.
    if (sweeps > 0) {
      const swept = this.racers.flatMap((racer, i) => (racer.kind === 'expire' ? (answers[i] as string[]) : []));
      expect([...swept].sort()).toEqual([...dueOthers.map((r) => r.id), ...(targetSwept ? [target.id] : [])].sort());
      dueOthers.forEach((r) => model.release(r, 'expired'));
    }
    return compareWindows(model, real);
  }
  toString = () =>
    `concurrently(#${this.pick}${this.atExpiry ? ' at expiry' : ''}: ${this.racers
      .map((r) => `${r.kind === 'settle' ? `settle ${r.inputTokens}/${r.outputTokens}` : r.kind}${r.after ? ` +${r.after}` : ''}`)
      .join(' | ')})`;
}

class ExpireCommand implements Cmd {
  check = () => true;
  async run(model: ReferenceLedger, real: Real): Promise<void> {
    const due = model.reservations.filter((r) => r.state === 'pending' && r.expiresAt <= model.now);
    const expired = await real.ledger.repo.expireDue(new Date(model.now));
    expect([...expired].sort()).toEqual(due.map((r) => r.id).sort());
    due.forEach((r) => model.release(r, 'expired'));
    return compareWindows(model, real);
  }
  toString = () => 'expireDue()';
}

class AdvanceClockCommand implements Cmd {
  constructor(readonly minutes: number) {}
  check = () => true;
  async run(model: ReferenceLedger, real: Real): Promise<void> {
    model.now += this.minutes * 60_000;
    real.clock.now = model.now;
    // The sweeper runs at least once per interval, which is what I4 assumes.
    await new ExpireCommand().run(model, real);
  }
  toString = () => `advance(${this.minutes}m)`;
}

class PolicyChangeCommand implements Cmd {
  constructor(
    readonly policy: BudgetPolicy,
    readonly change: 'upsert' | 'raise' | 'toggle',
    readonly raiseBy: number,
  ) {}
  check = () => true;
  async run(model: ReferenceLedger, real: Real): Promise<void> {
    const existing = model.policies.get(this.policy.policyId);
    let next: BudgetPolicy;
    if (this.change === 'upsert' || !existing) next = this.policy;
    else if (this.change === 'raise') next = { ...policyOf(existing), hardLimit: existing.hardLimit + this.raiseBy };
    else next = { ...policyOf(existing), enabled: !existing.enabled };
    // Lowering a limit below what a window already holds is a separate, deliberate case (usage
    // shows hard_limit); here limits only grow within a generation so I1 must hold throughout.
    // A change of metric, window or scope starts empty windows, where any limit holds.
    const sameWindows =
      existing !== undefined &&
      existing.metric === next.metric &&
      existing.window === next.window &&
      existing.scope.kind === next.scope.kind &&
      existing.scope.id === next.scope.id;
    if (existing && sameWindows && next.hardLimit < existing.hardLimit) next = { ...next, hardLimit: existing.hardLimit };
    if (next.softLimit !== undefined && next.softLimit > next.hardLimit) next = { ...next, softLimit: next.hardLimit };
    const expected = model.upsert(next);
    const { policy: stored } = await real.ledger.repo.putPolicy(next);
    expect(stored.generation).toBe(expected.generation);
    await compareUsage(model, real);
    return compareWindows(model, real);
  }
  toString = () => `${this.change}(${this.policy.policyId}${this.change === 'raise' ? ` +${this.raiseBy}` : ''})`;
}

function policyOf({ generation: _generation, ...policy }: ModelPolicy): BudgetPolicy {
  return policy;
}

const policyArb: fc.Arbitrary<BudgetPolicy> = fc
  .record({
    policyId: fc.constantFrom('p1', 'p2', 'p3', 'p4'),
    scope: fc.constantFrom<BudgetPolicy['scope']>(
      { kind: 'global' },
      { kind: 'tenant', id: 'acme' },
      { kind: 'tenant', id: 'globex' },
      { kind: 'principal', id: 'acme/a' },
      { kind: 'model', id: 'm2' },
    ),
    metric: fc.constantFrom<BudgetPolicy['metric']>('cost', 'tokens'),
    window: fc.constantFrom<BudgetPolicy['window']>('day', 'week', 'month', 'total'),
    hardLimit: fc.integer({ min: 0, max: 6_000 }),
    action: fc.constantFrom<BudgetPolicy['action']>('block', 'approval_required', 'downgrade'),
    enabled: fc.boolean(),
  })
  .map((p) => ({ ...p, softLimit: Math.floor(p.hardLimit * 0.7) }));

const reserveParamsArb: fc.Arbitrary<ReserveParams> = fc
  .tuple(
    fc.nat(2),
    fc.nat(1),
    fc.integer({ min: 1, max: 300 }),
    fc.integer({ min: 0, max: 120 }),
    fc.integer({ min: 1, max: 180 }),
    fc.boolean(),
  )
  .map(([scopeIndex, priceIndex, inputTokens, maxOutputTokens, ttlMinutes, approved]) => ({
    scopeIndex,
    priceIndex,
    inputTokens,
    maxOutputTokens,
    ttlMinutes,
    approved: approved && inputTokens % 5 === 0,
  }));

const afterArb = fc.nat(3);
const settleRacerArb: fc.Arbitrary<Racer> = fc
  .tuple(
    fc.oneof(
      { weight: 1, arbitrary: fc.constant([0, 0] as const) },
      { weight: 5, arbitrary: fc.tuple(fc.integer({ min: 0, max: 320 }), fc.integer({ min: 0, max: 130 })) },
    ),
    afterArb,
  )
  .map(([[inputTokens, outputTokens], after]) => ({ kind: 'settle', inputTokens, outputTokens, after }));
const releaseRacerArb: fc.Arbitrary<Racer> = afterArb.map((after) => ({ kind: 'release', after }));
const expireRacerArb: fc.Arbitrary<Racer> = afterArb.map((after) => ({ kind: 'expire', after }));
const racersArb: fc.Arbitrary<Racer[]> = fc.oneof(
  // A late settle, the run's own release and the sweeper, in any order.
  fc
    .tuple(settleRacerArb, expireRacerArb, releaseRacerArb)
    .chain((racers) => fc.shuffledSubarray(racers, { minLength: 3, maxLength: 3 })),
  // A retried settle activity beside its first attempt.
  fc.tuple(settleRacerArb, settleRacerArb),
  // Anything else, two sweepers included.
  fc.array(fc.oneof(settleRacerArb, releaseRacerArb, expireRacerArb), { minLength: 2, maxLength: 3 }),
);

const commandArbs = [
  fc
    .tuple(reserveParamsArb, fc.boolean())
    .map(([params, repeat]) => new ReserveCommand(params, repeat && params.maxOutputTokens % 7 === 0)),
  fc
    .tuple(fc.nat(50), fc.integer({ min: 0, max: 320 }), fc.integer({ min: 0, max: 130 }))
    .map(([pick, i, o]) => new ResolveCommand('settle', pick, i, o)),
  fc.nat(50).map((pick) => new ResolveCommand('release', pick, 0, 0)),
  fc.constant(new ExpireCommand()),
  fc.integer({ min: 1, max: 2 * 24 * 60 }).map((m) => new AdvanceClockCommand(m)),
  fc
    .tuple(
      policyArb,
      fc.constantFrom<'upsert' | 'raise' | 'toggle'>('upsert', 'raise', 'toggle'),
      fc.integer({ min: 1, max: 3_000 }),
    )
    .map(([p, c, r]) => new PolicyChangeCommand(p, c, r)),
  fc
    .tuple(fc.nat(50), racersArb, fc.boolean())
    .map(([pick, racers, atExpiry]) => new ConcurrentResolveCommand(pick, racers, atExpiry)),
  fc
    .tuple(fc.array(reserveParamsArb, { minLength: 2, maxLength: 3 }), fc.boolean())
    .map(([requests, duplicate]) => new ConcurrentReserveCommand(requests, duplicate)),
];

describe.each(ledgerDialects())('ledger model-based property test on %s', (dialect) => {
  it('agrees with the reference model and keeps I1–I6 after every step, also when calls interleave', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(policyArb, { minLength: 1, maxLength: 3 }),
        fc.commands(commandArbs, {
          maxCommands: 40,
          // Longer sequences where the calls really overlap (and cost more per run).
          size: dialect === 'postgres' ? 'medium' : 'small',
        }),
        async (initial, commands) => {
          const clock = { now: Date.parse('2026-11-27T10:00:00Z') };
          const ledger = await openTestLedger(dialect, { clock: () => new Date(clock.now) });
          // PostgreSQL: a second repository on a pool of its own, as another process would have.
          const second = dialect === 'postgres' ? ledger.store.connect(4) : undefined;
          const repos = [
            ledger.repo,
            ...(second ? [createLedgerRepository({ connection: second, clock: () => new Date(clock.now) })] : []),
          ];
          try {
            const model = new ReferenceLedger();
            for (const p of initial) {
              const expected = model.upsert(p);
              expect((await ledger.repo.putPolicy(p)).policy.generation).toBe(expected.generation);
            }
            await fc.asyncModelRun(() => ({ model, real: { ledger, clock, repos } }), commands);
          } finally {
            await second?.close();
            await ledger.close();
          }
        },
      ),
      { numRuns: dialect === 'sqlite' ? 150 : 40 },
    );
  }, 240_000);
});
