import { remediationGate, type RemediationRecord } from '../../../src/domain/self-healing';

const now = Date.parse('2026-11-28T12:00:00Z');
const breaker = { consecutiveFailures: 3, openMs: 300_000 };
const ok = (agoMs: number): RemediationRecord => ({ at: now - agoMs, status: 'succeeded' });
const failed = (agoMs: number): RemediationRecord => ({ at: now - agoMs, status: 'failed' });
const skipped = (agoMs: number): RemediationRecord => ({ at: now - agoMs, status: 'skipped' });

const gate = (recent: RemediationRecord[], maxPerMinute = 4) => remediationGate({ now, recent, maxPerMinute, breaker });

describe('remediationGate: throttle', () => {
  it.each<[string, RemediationRecord[], boolean]>([
    ['nothing recent', [], true],
    ['3 in the last minute (limit 4)', [ok(1_000), ok(2_000), failed(3_000)], true],
    ['4 in the last minute (limit 4)', [ok(1_000), ok(2_000), ok(3_000), failed(59_999)], false],
    ['4, the oldest exactly a minute ago', [ok(1_000), ok(2_000), ok(3_000), ok(60_000)], true],
    ['3 done and 5 skipped (skipped did nothing)', [ok(1_000), ok(2_000), ok(3_000), ...[1, 2, 3, 4, 5].map(skipped)], true],
  ])('%s → allowed: %s', (_case, recent, allowed) => {
    expect(gate(recent).allowed).toBe(allowed);
  });

  it('says how many against the limit', () => {
    expect(gate([ok(1_000), ok(2_000), ok(3_000), ok(4_000)])).toEqual({
      allowed: false,
      reason: 'throttled: 4 remediations in the last minute (limit 4)',
    });
  });

  it('uses the configured limit', () => {
    expect(gate([ok(1_000)], 1).allowed).toBe(false);
    expect(gate([ok(1_000)], 2).allowed).toBe(true);
  });
});

describe('remediationGate: circuit breaker', () => {
  it.each<[string, RemediationRecord[], boolean]>([
    ['2 failures in a row', [failed(200_000), failed(100_000)], true],
    ['3 failures in a row, the last 100 s ago', [failed(290_000), failed(200_000), failed(100_000)], false],
    ['3 failures in a row, the last just under openMs ago', [failed(400_000), failed(350_000), failed(299_999)], false],
    [
      '3 failures in a row, the last exactly openMs ago (closed again)',
      [failed(400_000), failed(350_000), failed(300_000)],
      true,
    ],
    ['3 failures then a success', [failed(290_000), failed(200_000), failed(100_000), ok(90_000)], true],
    ['a success between failures', [failed(290_000), ok(250_000), failed(200_000), failed(100_000)], true],
    [
      '3 failures with skips in between (skips are not outcomes)',
      [failed(290_000), skipped(280_000), failed(200_000), skipped(150_000), failed(100_000)],
      false,
    ],
    ['3 failures given out of order', [failed(100_000), ok(400_000), failed(290_000), failed(200_000)], false],
    [
      'after it closes, one more failure opens it again',
      [failed(900_000), failed(800_000), failed(700_000), failed(10_000)],
      false,
    ],
  ])('%s → allowed: %s', (_case, recent, allowed) => {
    expect(gate(recent).allowed).toBe(allowed);
  });

  it('names the failures and when it closes', () => {
    expect(gate([failed(290_000), failed(200_000), failed(100_000)])).toEqual({
      allowed: false,
      reason: `circuit open: 3 consecutive failed remediations, closes at ${new Date(now - 100_000 + 300_000).toISOString()}`,
    });
  });
});
