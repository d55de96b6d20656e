import type { FastifyInstance } from 'fastify';
import { createFailedAuthThrottle } from '../../src/api/plugins/failed-auth-throttle';
import { bearer, openTestStack, testTokens, type TestStack } from '../support/app';

/**
 * Guessing tokens costs time: failed authentications are counted per client address; past the
 * threshold the address waits a delay that doubles with each further failure.
 */
describe('failed-authentication throttle', () => {
  it('blocks past the threshold for a delay that doubles, up to the maximum, and forgets a quiet address', () => {
    let now = 0;
    const throttle = createFailedAuthThrottle({ threshold: 3, windowMs: 60_000, maxDelayMs: 8_000 }, () => now);
    expect([1, 2, 3].map(() => throttle.recordFailure('10.0.0.1'))).toEqual([0, 0, 0]);
    expect(throttle.recordFailure('10.0.0.1')).toBe(1_000);
    expect(throttle.recordFailure('10.0.0.1')).toBe(2_000);
    expect(throttle.recordFailure('10.0.0.1')).toBe(4_000);
    expect(throttle.recordFailure('10.0.0.1')).toBe(8_000);
    expect(throttle.recordFailure('10.0.0.1')).toBe(8_000);
    expect(throttle.blockedFor('10.0.0.2')).toBe(0);
    now += 5_000;
    expect(throttle.blockedFor('10.0.0.1')).toBe(3_000);
    now += 61_000;
    expect(throttle.blockedFor('10.0.0.1')).toBe(0);
    expect(throttle.recordFailure('10.0.0.1')).toBe(0);
  });

  describe('over HTTP', () => {
    let stack: TestStack;
    let app: FastifyInstance;
    beforeAll(async () => {
      stack = await openTestStack({ server: { failedAuth: { threshold: 5, windowMs: 60_000, maxDelayMs: 10_000 } } });
      app = stack.app;
    });
    afterAll(() => stack?.close());

    const list = (headers: Record<string, string>, ip = '192.0.2.7') =>
      app.inject({ method: 'GET', url: '/v1/runs', headers, remoteAddress: ip });

    it('answers 401 up to the threshold, then 429 with Retry-After to every credentialed request from that address', async () => {
      for (let i = 0; i < 5; i++) expect((await list(bearer('guess-' + i))).statusCode).toBe(401);
      const blocked = await list(bearer('guess-5'));
      expect(blocked.statusCode).toBe(401);
      const held = await list(bearer(testTokens.admin));
      expect(held.statusCode).toBe(429);
      expect(Number(held.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(held.json().error.message).toContain('too many failed authentications from 192.0.2.7');
      // Another address is not held back.
      expect((await list(bearer(testTokens.admin), '192.0.2.8')).statusCode).toBe(200);
      // Public routes stay open.
      expect((await app.inject({ method: 'GET', url: '/healthz', remoteAddress: '192.0.2.7' })).statusCode).toBe(200);
    });
  });
});
