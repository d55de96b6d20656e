import type { RoutingDecision } from '../domain/routing';
import type { LedgerRepository } from '../ledger';
import type { RoutePlanner } from '../route-planner/planner';
import { bookingIdOf, type PlanRunInput, type RecordedBookingInput } from '../temporal/contracts';

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
    async planRun(input: RecordedBookingInput<PlanRunInput>): Promise<RoutingDecision> {
      const bookingId = bookingIdOf(input);
      const recorded = await ledger.getRoutingDecision(bookingId);
      if (recorded) return recorded;
      const decision = await routePlanner.plan(input);
      await ledger.recordRoutingDecision({
        decisionId: bookingId,
        runId: bookingId,
        tenantId: input.tenantId,
        principalId: input.principalId,
        decision,
      });
      return (await ledger.getRoutingDecision(bookingId)) ?? decision;
    },
  };
}
