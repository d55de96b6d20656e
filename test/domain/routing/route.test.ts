import { chosenRoute, planRoute } from '../../../src/domain/routing';
import { routingInput } from './fixtures';

const fallback = { modelId: 'std', providerId: 'acme', maxOutputTokens: 4_096 };

describe('chosenRoute', () => {
  it('takes the selected model with its provider and planned output cap', () => {
    const decision = planRoute(routingInput({ mode: 'enforced', requestedModel: 'mini' }));
    const route = chosenRoute(decision, fallback);
    const candidate = decision.candidates.find((c) => c.modelId === decision.selectedModel);
    expect(route).toEqual({
      modelId: decision.selectedModel,
      providerId: candidate?.providerId,
      maxOutputTokens: candidate?.plannedOutputTokens,
    });
  });

  it('has no route when no model can take the request, and says why', () => {
    const decision = planRoute(routingInput({ inputTokens: 10_000_000 }));
    expect(chosenRoute(decision, fallback)).toEqual({ unroutable: expect.stringContaining('context window') });
  });

  it('leaves a budget block to admission (which answers 402 with the numbers)', () => {
    const decision = planRoute(routingInput({ budgetStatus: 'blocked' }));
    expect(decision.action).toBe('blocked');
    expect(chosenRoute(decision, fallback)).toMatchObject({ modelId: decision.selectedModel });
  });
});
