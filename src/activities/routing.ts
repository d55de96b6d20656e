import type { RoutingDecision } from '../domain/routing';
import type { LedgerRepository } from '../ledger';
import type { RoutePlanner } from '../routing/planner';
import type { PlanRunInput } from '../temporal/contracts';

export interface RoutingActivityDeps {
  ledger: LedgerRepository;
  routePlanner: RoutePlanner;
}

export function createRoutingActivities({ ledger, routePlanner }: RoutingActivityDeps) {
  return {
    /**
     * Plans the run's route and records the decision under the run id. A retried attempt returns
     * the decision already recorded, so the run and the record never disagree.
     */
    async planRun(input: PlanRunInput): Promise<RoutingDecision> {
      const recorded = await ledger.getRoutingDecision(input.runId);
      if (recorded) return recorded;
      const decision = await routePlanner.plan(input);
      await ledger.recordRoutingDecision({
        decisionId: input.runId,
        runId: input.runId,
        tenantId: input.tenantId,
        principalId: input.principalId,
        decision,
      });
      return (await ledger.getRoutingDecision(input.runId)) ?? decision;
    },
  };
}
