import { setTimeout as delay } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { bearer, testTokens } from '../support/app';
import { postRun } from '../support/runs';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- runs and incidents as JSON, asserted field by field
export type Json = any;

/** Polls `GET /v1/incidents?detector=…` (as admin) until an incident about `subjectId` satisfies `predicate`. */
export async function waitForIncidentAbout(
  app: FastifyInstance,
  detector: string,
  subjectId: string,
  predicate: (incident: Json) => boolean,
  what: string,
  timeoutMs = 45_000,
): Promise<Json> {
  const deadline = Date.now() + timeoutMs;
  let last: Json;
  while (Date.now() < deadline) {
    const listed = await app.inject({
      method: 'GET',
      url: `/v1/incidents?detector=${detector}&limit=100`,
      headers: bearer(testTokens.admin),
    });
    const summary = listed.json().items.find((item: Json) => item.subject.id === subjectId);
    if (summary) {
      last = (
        await app.inject({ method: 'GET', url: `/v1/incidents/${summary.incidentId}`, headers: bearer(testTokens.admin) })
      ).json();
      if (predicate(last)) return last;
    }
    await delay(250);
  }
  throw new Error(`no ${detector} incident about ${subjectId} became ${what}; last seen ${JSON.stringify(last)}`);
}

/** Starts a run of acme on the simulated model with `simulation`; returns its id. */
export async function startRunThrough(app: FastifyInstance, simulation: Record<string, unknown>): Promise<string> {
  const response = await postRun(app, {
    principalId: 'svc-checkout',
    model: 'sim-standard',
    messages: [{ role: 'user', content: 'self-healing test' }],
    simulation,
  });
  if (response.statusCode !== 202) throw new Error(`POST /v1/runs answered ${response.statusCode}: ${response.body}`);
  return response.json().runId;
}

export async function waitForRunStateThrough(
  app: FastifyInstance,
  runId: string,
  state: string,
  timeoutMs = 60_000,
): Promise<Json> {
  const deadline = Date.now() + timeoutMs;
  let run: Json;
  while (Date.now() < deadline) {
    run = (await app.inject({ method: 'GET', url: `/v1/runs/${runId}`, headers: bearer(testTokens.admin) })).json();
    if (run.state === state) return run;
    await delay(50);
  }
  throw new Error(`run ${runId} never became ${state}; last seen ${run?.state}`);
}
