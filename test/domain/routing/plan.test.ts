import fc from 'fast-check';
import {
  chosenRoute,
  planRoute,
  routingModes,
  taskClasses,
  type BreakerState,
  type BudgetStatus,
  type RoutableModel,
  type RoutingDecision,
  type RoutingInput,
} from '../../../src/domain/routing';
import { models, plainModel, prices, routingInput } from './fixtures';

/** What a run would use if routing left it on the model it asked for. */
const fallback = { modelId: 'std', providerId: 'acme', maxOutputTokens: 4_096 };

function candidateOf(decision: RoutingDecision, modelId: string) {
  return decision.candidates.find((candidate) => candidate.modelId === modelId);
}

describe('planRoute: context-window fit', () => {
  it('excludes a model too small for the prompt before failing over', () => {
    const decision = planRoute(routingInput({ requestedModel: 'std', inputTokens: 20_000, providerHealth: { acme: 'open' } }));
    expect(candidateOf(decision, 'mini')).toMatchObject({ eligible: false, excludedBecause: 'context_window_exceeded' });
    expect(candidateOf(decision, 'std')).toMatchObject({ eligible: false, excludedBecause: 'provider_open' });
    expect(decision).toMatchObject({ action: 'failover', recommendedModel: 'max', selectedModel: 'max' });
    expect(decision.explanations).toContain(
      'mini is excluded: 20,000 input + 2,048 output tokens exceed its 16,000-token context window.',
    );
    expect(decision.explanations).toContain(
      "std's provider acme has an open circuit breaker, so the run fails over to max (provider frontier).",
    );
  });

  it('does not fail over to a healthy model that is too small: it blocks instead', () => {
    const providerHealth = { acme: 'open', frontier: 'open' } as const;
    const decision = planRoute(routingInput({ requestedModel: 'std', inputTokens: 20_000, providerHealth }));
    expect(decision).toMatchObject({ action: 'blocked', recommendedModel: null, selectedModel: 'std' });
    expect(decision.reasonCodes).toContain('no_healthy_model');
    expect(decision.explanations).toContain(
      'Every model that fits this request has an open provider circuit breaker: std (acme), max (frontier).',
    );
  });

  it('fails over to a lower tier when nothing healthy of the requested tier fits', () => {
    const providerHealth = { acme: 'open', frontier: 'open' } as const;
    const decision = planRoute(routingInput({ requestedModel: 'std', providerHealth }));
    expect(decision).toMatchObject({ action: 'failover', recommendedModel: 'mini', selectedModel: 'mini' });
  });

  it('keeps a requested model on a half-open provider: the call is the probe', () => {
    const decision = planRoute(routingInput({ requestedModel: 'std', providerHealth: { acme: 'half_open' } }));
    expect(decision).toMatchObject({ action: 'proceed', selectedModel: 'std' });
  });
});

describe('planRoute: capabilities', () => {
  const withPlain: RoutableModel[] = [...models, plainModel];
  const withPlainPrices = { ...prices, plain: { inputMicroUsdPerMTok: 500_000, outputMicroUsdPerMTok: 1_500_000 } };

  it('moves a JSON request off a model without JSON mode to the cheapest fitting model of its tier', () => {
    const decision = planRoute(
      routingInput({ models: withPlain, prices: withPlainPrices, requestedModel: 'plain', jsonMode: true }),
    );
    expect(candidateOf(decision, 'plain')).toMatchObject({ eligible: false, excludedBecause: 'json_unsupported' });
    expect(decision).toMatchObject({ action: 'proceed', recommendedModel: 'std', selectedModel: 'std' });
    expect(decision.reasonCodes).toEqual(['json_unsupported', 'requested_model_ineligible', 'recommendation_applied']);
    expect(decision.explanations[0]).toBe('plain is excluded: it does not support JSON mode, which this request asks for.');
    // plain's 4,096-token output cap is the reference: std costs 1,000 × 2.5 + 4,096 × 10 µUSD.
    expect(decision.explanations[1]).toBe(
      'The requested plain cannot take this request; std (standard, 43,460 µUSD) is the cheapest fitting model of at least the standard tier.',
    );
  });

  it('keeps the model without JSON mode when JSON is not asked for', () => {
    const decision = planRoute(routingInput({ models: withPlain, prices: withPlainPrices, requestedModel: 'plain' }));
    expect(decision).toMatchObject({ action: 'proceed', selectedModel: 'plain', reasonCodes: ['requested_model_kept'] });
  });

  it('sends vision inputs only to a model that can read images', () => {
    const decision = planRoute(routingInput({ hasVision: true }));
    expect(candidateOf(decision, 'mini')?.excludedBecause).toBe('vision_unsupported');
    expect(candidateOf(decision, 'std')?.excludedBecause).toBe('vision_unsupported');
    expect(decision).toMatchObject({ recommendedModel: 'max', selectedModel: 'max' });
    expect(decision.explanations).toContain('std is excluded: it cannot read images, and this request has vision inputs.');
  });
});

describe('planRoute: auxiliary task classes', () => {
  it('never runs auxiliary work on a model dearer than the default, even when it was requested', () => {
    // Each is priced for this request: 1,000 input tokens and max's 16,384-token output cap (std: its own, smaller 8,192).
    const decision = planRoute(routingInput({ taskClass: 'auxiliary_summary', requestedModel: 'max' }));
    expect(candidateOf(decision, 'max')).toMatchObject({ eligible: false, excludedBecause: 'dearer_than_default' });
    expect(decision).toMatchObject({ recommendedModel: 'std', selectedModel: 'std' });
    expect(decision.explanations).toContain(
      'max is excluded: at 1,243,800 µUSD it would cost more than the default model std (84,420 µUSD), and auxiliary_summary work never does.',
    );
  });

  it('caps a complex auxiliary request at the default model where primary work would go premium', () => {
    const complex = { inputTokens: 40_000, promptChars: 160_000, jsonMode: true };
    expect(planRoute(routingInput({ ...complex, taskClass: 'primary_interactive' })).recommendedModel).toBe('max');
    const auxiliary = planRoute(routingInput({ ...complex, taskClass: 'auxiliary_extraction' }));
    expect(auxiliary.complexity.suggestedTier).toBe('premium');
    expect(auxiliary.recommendedModel).toBe('std');
  });

  it('blocks auxiliary vision work when the only model that reads images is dearer than the default', () => {
    const decision = planRoute(routingInput({ taskClass: 'auxiliary_vision', hasVision: true }));
    expect(decision).toMatchObject({ action: 'blocked', recommendedModel: null });
    expect(decision.reasonCodes).toEqual(['vision_unsupported', 'dearer_than_default', 'no_model_fits']);
    expect(decision.explanations.at(-1)).toMatch(/each model's exclusion is given above\.$/);
  });

  it('holds auxiliary work to the default model tier when the default has no known price', () => {
    const decision = planRoute(routingInput({ taskClass: 'auxiliary_classification', prices: { ...prices, std: null } }));
    expect(candidateOf(decision, 'std')?.excludedBecause).toBe('unknown_price');
    expect(candidateOf(decision, 'max')?.excludedBecause).toBe('dearer_than_default');
    expect(decision.recommendedModel).toBe('mini');
    expect(decision.explanations).toContain(
      'max is excluded: the default model std has no known price, so auxiliary_classification work is held to its standard tier and max is premium.',
    );
  });
});

describe('planRoute: budget status', () => {
  it('moves a downgrade to the cheapest model that fits, skipping cheaper ones that do not', () => {
    const decision = planRoute(routingInput({ requestedModel: 'max', inputTokens: 20_000, budgetStatus: 'downgrade' }));
    expect(decision).toMatchObject({ action: 'degrade', recommendedModel: 'std', selectedModel: 'std' });
    expect(decision.explanations).toContain(
      'A budget needs a cheaper model, so the run moves from max (1,528,800 µUSD) to the cheapest fitting model std (131,920 µUSD).',
    );
  });

  it('moves a small downgraded request all the way to the cheapest model', () => {
    const decision = planRoute(routingInput({ requestedModel: 'max', budgetStatus: 'downgrade' }));
    expect(decision).toMatchObject({
      action: 'degrade',
      selectedModel: 'mini',
      reasonCodes: ['budget_downgrade', 'budget_action_applied'],
    });
  });

  it('blocks a downgrade rather than fail over to a dearer model when the requested provider is down', () => {
    // mini is too small for 20,000 tokens and std's provider is down: only max is left, and it costs more.
    const decision = planRoute(
      routingInput({ requestedModel: 'std', inputTokens: 20_000, budgetStatus: 'downgrade', providerHealth: { acme: 'open' } }),
    );
    expect(decision).toMatchObject({ action: 'blocked', recommendedModel: null, selectedModel: 'std' });
    expect(decision.reasonCodes).toContain('no_cheaper_model');
  });

  it('never downgrades to a model with an unknown price', () => {
    const decision = planRoute(
      routingInput({ requestedModel: 'std', budgetStatus: 'downgrade', prices: { ...prices, mini: null } }),
    );
    expect(candidateOf(decision, 'mini')?.excludedBecause).toBe('unknown_price');
    expect(decision).toMatchObject({ action: 'blocked', reasonCodes: ['unknown_price', 'no_cheaper_model'] });
  });

  it.each<[BudgetStatus, RoutingDecision['action'], string | undefined]>([
    ['ok', 'proceed', undefined],
    ['soft_limit', 'proceed', 'budget_soft_limit'],
    ['hard_limit', 'proceed', 'budget_hard_limit'],
    ['approval_required', 'approval_required', 'budget_approval_required'],
    ['blocked', 'blocked', 'budget_blocked'],
  ])('budget status %s gives action %s', (budgetStatus, action, code) => {
    const decision = planRoute(routingInput({ requestedModel: 'std', budgetStatus }));
    expect(decision).toMatchObject({ action, recommendedModel: 'std', selectedModel: 'std' });
    if (code) expect(decision.reasonCodes).toContain(code);
  });

  it('names the model an approval is needed for', () => {
    const decision = planRoute(routingInput({ requestedModel: 'std', budgetStatus: 'approval_required' }));
    expect(decision.explanations).toContain('A budget policy requires an approval before this request may run on std.');
  });

  it('stays blocked when nothing fits, whatever the budget says', () => {
    const decision = planRoute(routingInput({ inputTokens: 250_000, budgetStatus: 'approval_required' }));
    expect(decision.action).toBe('blocked');
  });
});

describe('planRoute: a downgrade budget in each mode', () => {
  // max costs 1,243,800 µUSD for this request and mini 1,379: a downgrade policy moves the run to mini.
  const downgraded = { requestedModel: 'max', budgetStatus: 'downgrade' } as const;

  it.each([
    [
      'suggest',
      'mini',
      'budget_action_applied',
      "A budget action is the operator's instruction, not a routing suggestion, so mode suggest applies the downgrade: the run moves from max to mini.",
    ],
    ['enforced', 'mini', 'budget_action_applied', 'Mode enforced applies the budget downgrade: the run moves from max to mini.'],
    [
      'dry_run',
      'max',
      'recommendation_not_applied',
      'Mode dry_run only records the budget downgrade to mini; the run stays on max, which admission still holds to the budget.',
    ],
  ] as const)('%s: requested max, downgraded to mini, selected %s', (mode, selectedModel, code, sentence) => {
    const decision = planRoute(routingInput({ ...downgraded, mode }));
    expect(decision).toMatchObject({ mode, action: 'degrade', requestedModel: 'max', recommendedModel: 'mini', selectedModel });
    expect(decision.reasonCodes).toEqual(['budget_downgrade', code]);
    expect(decision.explanations.at(-1)).toBe(sentence);
    expect(chosenRoute(decision, fallback)).toMatchObject({ modelId: selectedModel });
  });

  it('applies a downgrade in suggest mode even when the request overrides a configured enforced mode', () => {
    const decision = planRoute(routingInput({ ...downgraded, mode: 'enforced', modeOverride: 'suggest' }));
    expect(decision).toMatchObject({ mode: 'suggest', modeSource: 'request', selectedModel: 'mini' });
    expect(decision.reasonCodes).toEqual(['mode_overridden', 'budget_downgrade', 'budget_action_applied']);
  });

  it('applies a downgrade in suggest mode to the cheapest model that fits, not the cheapest there is', () => {
    // mini's 16k context window is too small for 20,000 input tokens, so std is the cheapest that fits.
    const decision = planRoute(routingInput({ ...downgraded, mode: 'suggest', inputTokens: 20_000 }));
    expect(decision).toMatchObject({ action: 'degrade', recommendedModel: 'std', selectedModel: 'std' });
    expect(decision.reasonCodes).not.toContain('recommendation_not_applied');
  });

  it.each(routingModes)(
    '%s: with nothing cheaper that fits, the run stays on its model and admission clamps or refuses it',
    (mode) => {
      const decision = planRoute(routingInput({ mode, requestedModel: 'mini', budgetStatus: 'downgrade' }));
      expect(decision).toMatchObject({
        action: 'blocked',
        recommendedModel: 'mini',
        selectedModel: 'mini',
        reasonCodes: ['no_cheaper_model'],
      });
      expect(decision.explanations).toEqual([
        'A budget needs a cheaper model than mini (1,379 µUSD), but no available model that fits this request costs less, so the run stays on mini: admission clamps its output to what the budget still holds, or refuses it (402 budget_exceeded) when not even the prompt and one output token fit.',
      ]);
      expect(chosenRoute(decision, fallback)).toMatchObject({ modelId: 'mini', providerId: 'budget-ai' });
    },
  );

  it.each(routingModes)(
    '%s: refuses when nothing cheaper fits and the requested model cannot take the request itself',
    (mode) => {
      // mini is too small for 20,000 tokens and std's provider is down: only max is left, and it costs more.
      const decision = planRoute(
        routingInput({
          mode,
          requestedModel: 'std',
          inputTokens: 20_000,
          budgetStatus: 'downgrade',
          providerHealth: { acme: 'open' },
        }),
      );
      expect(decision).toMatchObject({ action: 'blocked', recommendedModel: null, selectedModel: 'std' });
      expect(decision.reasonCodes).toEqual(['context_window_exceeded', 'provider_open', 'no_cheaper_model']);
      expect(decision.explanations.at(-1)).toBe(
        'A budget needs a cheaper model than std (131,920 µUSD), but no available model that fits this request costs less, and std cannot take it itself (its exclusion is given above), so the run is refused.',
      );
      expect(chosenRoute(decision, fallback)).toEqual({ unroutable: expect.stringContaining('so the run is refused') });
    },
  );
});

describe('planRoute: modes', () => {
  // std's provider is down, so the recommendation (max) differs from the request (std).
  const diverging = { requestedModel: 'std', providerHealth: { acme: 'open' } } as const;

  it.each([
    ['suggest', 'std', 'recommendation_not_applied', 'Mode suggest keeps std selected; max is only recommended.'],
    ['dry_run', 'std', 'recommendation_not_applied', 'Mode dry_run only records the recommendation max; the run stays on std.'],
    ['enforced', 'max', 'recommendation_applied', 'Mode enforced applies the recommendation: the run moves from std to max.'],
  ] as const)('%s: requested std, recommended max, selected %s', (mode, selectedModel, code, sentence) => {
    const decision = planRoute(routingInput({ ...diverging, mode }));
    expect(decision).toMatchObject({ mode, modeSource: 'config', requestedModel: 'std', recommendedModel: 'max', selectedModel });
    expect(decision.reasonCodes).toContain(code);
    expect(decision.explanations.at(-1)).toBe(sentence);
  });

  it('lets a request override the configured mode', () => {
    const decision = planRoute(routingInput({ ...diverging, mode: 'suggest', modeOverride: 'enforced' }));
    expect(decision).toMatchObject({ mode: 'enforced', modeSource: 'request', selectedModel: 'max' });
    expect(decision.explanations[0]).toBe('This request asked for routing mode enforced, which replaces the configured suggest.');
  });

  it('recommends by complexity when no model was requested, and suggest keeps the default', () => {
    const decision = planRoute(routingInput({ mode: 'suggest', inputTokens: 120, promptChars: 480 }));
    expect(decision).toMatchObject({ requestedModel: null, recommendedModel: 'mini', selectedModel: 'std' });
    expect(decision.explanations[0]).toBe(
      'No model was requested and complexity 0/5 (about 120 tokens) suggests a low-tier model; mini (low, 1,247 µUSD) is the cheapest fitting model of at least the low tier.',
    );
  });

  it.each(['suggest', 'dry_run', 'enforced'] as const)('%s keeps a requested model that fits and is healthy', (mode) => {
    const decision = planRoute(routingInput({ mode, requestedModel: 'max' }));
    expect(decision).toMatchObject({ action: 'proceed', recommendedModel: 'max', selectedModel: 'max' });
    expect(decision.explanations).toEqual(['max was requested and can take this request, so it is kept.']);
  });
});

describe('planRoute: nothing fits', () => {
  it('blocks a prompt too large for every model and says the sizes', () => {
    const decision = planRoute(routingInput({ inputTokens: 250_000, promptChars: 1_000_000 }));
    expect(decision).toMatchObject({ action: 'blocked', recommendedModel: null, selectedModel: 'std' });
    expect(decision.reasonCodes).toEqual(['context_window_exceeded', 'no_model_fits']);
    expect(decision.candidates.every((candidate) => !candidate.eligible)).toBe(true);
    expect(decision.explanations.at(-1)).toBe(
      "No configured model can take this request of 250,000 input + up to 8,192 output tokens (258,192 in all); the largest context window is max's 200,000 tokens.",
    );
  });
});

describe('planRoute: unknown prices', () => {
  it('moves a request off a requested model with no known price', () => {
    const decision = planRoute(
      routingInput({ requestedModel: 'max', prices: { mini: prices.mini ?? null, std: prices.std ?? null } }),
    );
    expect(candidateOf(decision, 'max')).toMatchObject({ eligible: false, excludedBecause: 'unknown_price' });
    expect(candidateOf(decision, 'max')).not.toHaveProperty('estimatedCostMicroUsd');
    expect(decision.recommendedModel).toBe('std');
    expect(decision.explanations[0]).toBe(
      'max is excluded: it has no known price, and a model without a price is never treated as free.',
    );
  });
});

describe('planRoute: programmer errors', () => {
  it.each<[string, Partial<RoutingInput>]>([
    ['an unknown requested model', { requestedModel: 'gpt-unknown' }],
    ['an unknown default model', { defaultModel: 'gpt-unknown' }],
    ['a negative token count', { inputTokens: -1 }],
    ['a zero output cap', { maxOutputTokens: 0 }],
    ['no models', { models: [] }],
    ['an unknown task class', { taskClass: 'chat' as never }],
  ])('throws on %s', (_name, overrides) => {
    expect(() => planRoute(routingInput(overrides))).toThrow(RangeError);
  });
});

describe('planRoute: properties', () => {
  const allModels: RoutableModel[] = [...models, plainModel];
  const allPrices = { ...prices, plain: { inputMicroUsdPerMTok: 500_000, outputMicroUsdPerMTok: 1_500_000 } };
  const modelIds = allModels.map((model) => model.id);
  // Weighted towards the common case (healthy, priced, no images) so most runs reach a selection.
  const mostly = <T>(usual: T, ...rare: T[]) =>
    fc.oneof({ arbitrary: fc.constant(usual), weight: 3 }, { arbitrary: fc.constantFrom(...rare), weight: 1 });
  const health = mostly<BreakerState>('closed', 'open', 'half_open');
  const request = fc.record({
    taskClass: fc.constantFrom(...taskClasses),
    requestedModel: fc.option(fc.constantFrom(...modelIds), { nil: undefined }),
    defaultModel: fc.constantFrom(...modelIds),
    inputTokens: fc.oneof(fc.integer({ min: 0, max: 16_000 }), fc.integer({ min: 0, max: 260_000 })),
    maxOutputTokens: fc.option(fc.integer({ min: 1, max: 20_000 }), { nil: undefined, freq: 2 }),
    jsonMode: fc.boolean(),
    hasVision: mostly(false, true),
    promptChars: fc.integer({ min: 0, max: 1_200_000 }),
    budgetStatus: mostly<BudgetStatus>('ok', 'soft_limit', 'hard_limit', 'downgrade', 'approval_required', 'blocked'),
    providerHealth: fc.record({ 'budget-ai': health, acme: health, frontier: health }),
    unpriced: fc.oneof({ arbitrary: fc.constant<string[]>([]), weight: 3 }, { arbitrary: fc.subarray(modelIds), weight: 1 }),
  });
  const toInput = ({ unpriced, ...rest }: typeof request extends fc.Arbitrary<infer T> ? T : never): RoutingInput =>
    routingInput({
      ...rest,
      mode: 'enforced',
      models: allModels,
      prices: Object.fromEntries(Object.entries(allPrices).filter(([id]) => !unpriced.includes(id))),
    });

  it('in enforced mode selects a priced, healthy model that fits and has the capabilities, or blocks', () => {
    let selections = 0;
    fc.assert(
      fc.property(request, (drawn) => {
        const input = toInput(drawn);
        const decision = planRoute(input);
        if (decision.action === 'blocked') return;
        selections += 1;
        const model = allModels.find((entry) => entry.id === decision.selectedModel) as RoutableModel;
        const candidate = candidateOf(decision, model.id);
        const outputTokens = input.maxOutputTokens ?? candidate?.plannedOutputTokens ?? Infinity;
        expect(input.inputTokens + outputTokens).toBeLessThanOrEqual(model.contextWindow);
        expect(outputTokens).toBeLessThanOrEqual(model.maxOutputTokens);
        if (input.jsonMode) expect(model.capabilities.json).toBe(true);
        if (input.hasVision) expect(model.capabilities.vision).toBe(true);
        expect(input.prices[model.id]).toBeTruthy();
        expect(input.providerHealth[model.provider]).not.toBe('open');
      }),
      { numRuns: 500 },
    );
    // Guards against a generator so harsh that every run blocks and the property holds vacuously.
    expect(selections).toBeGreaterThan(150);
  });

  it('never recommends auxiliary work on a model dearer than the default', () => {
    fc.assert(
      fc.property(request, (drawn) => {
        const decision = planRoute(toInput(drawn));
        const defaultCost = candidateOf(decision, decision.defaultModel)?.estimatedCostMicroUsd;
        if (!drawn.taskClass.startsWith('auxiliary_') || decision.recommendedModel === null || defaultCost === undefined) return;
        expect(candidateOf(decision, decision.recommendedModel)?.estimatedCostMicroUsd).toBeLessThanOrEqual(defaultCost);
      }),
      { numRuns: 500 },
    );
  });
});
