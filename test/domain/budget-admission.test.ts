import { decideAdmission, type AdmissionWindow, type BudgetPolicy } from '../../src/domain/budget';

const price = { inputMicroUsdPerMTok: 2_500_000, outputMicroUsdPerMTok: 10_000_000 }; // 2.5 µUSD in, 10 µUSD out per token
const policy = (hardLimit: number): BudgetPolicy => ({
  policyId: 'daily',
  scope: { kind: 'global' },
  metric: 'cost',
  window: 'day',
  hardLimit,
  action: 'block',
  enabled: true,
});
const windowOf = (hardLimit: number, spent = 0): AdmissionWindow => ({
  policy: policy(hardLimit),
  periodKey: 'day:2026-11-27',
  usage: { spent, reserved: 0 },
});
const request = (inputTokens: number, maxOutputTokens: number) => ({
  inputTokens,
  maxOutputTokens,
  price,
  minOutputTokens: 1,
  approvalOverride: false,
});

describe('decideAdmission', () => {
  it('refuses a request for no output whose prompt alone passes the limit (found by the model-based test)', () => {
    const decision = decideAdmission([windowOf(0)], request(1, 0)); // the prompt costs 3 µUSD, the limit is 0
    expect(decision).toMatchObject({ admitted: false, refusal: { policyId: 'daily', limit: 0, requested: 3 } });
  });

  it('admits a request for no output when its prompt fits', () => {
    expect(decideAdmission([windowOf(3)], request(1, 0))).toMatchObject({ admitted: true, maxOutputTokens: 0, costMicroUsd: 3 });
  });

  it('clamps the output to what the headroom holds', () => {
    // 100 input tokens = 250 µUSD; 1,000 µUSD left holds 75 output tokens.
    expect(decideAdmission([windowOf(1_000)], request(100, 500))).toMatchObject({
      admitted: true,
      clamped: true,
      maxOutputTokens: 75,
      costMicroUsd: 1_000,
    });
  });
});
