import { z } from 'zod';
import { candidateExclusions, routingActions, routingModes, routingReasonCodes, taskClasses } from '../../domain/routing';
import { chatMessageSchema, identifier } from '../common-schemas';

export const routePlanBodySchema = z
  .object({
    tenantId: identifier('tenantId'),
    principalId: identifier('principalId'),
    taskClass: z.enum(taskClasses).default('primary_interactive'),
    messages: z.array(chatMessageSchema).min(1).max(1_000),
    model: z.string().min(1).max(200).optional(),
    maxOutputTokens: z.number().int().positive().max(1_000_000).optional(),
    jsonMode: z.boolean().default(false),
    routingMode: z.enum(routingModes).optional().describe('this request only; otherwise routing.mode from config'),
  })
  .strict()
  .meta({ id: 'RoutePlanRequest' });

export const routingDecisionSchema = z
  .object({
    decisionId: z.string().optional(),
    taskClass: z.enum(taskClasses),
    mode: z.enum(routingModes),
    modeSource: z.enum(['config', 'request']),
    requestedModel: z.string().nullable(),
    defaultModel: z.string(),
    recommendedModel: z.string().nullable(),
    selectedModel: z.string(),
    action: z.enum(routingActions),
    reasonCodes: z.array(z.enum(routingReasonCodes)),
    explanations: z.array(z.string()).describe('one sentence per rule that fired'),
    candidates: z.array(
      z.object({
        modelId: z.string(),
        providerId: z.string(),
        tier: z.string(),
        eligible: z.boolean(),
        excludedBecause: z.enum(candidateExclusions).optional(),
        plannedOutputTokens: z.number().int(),
        estimatedCostMicroUsd: z.number().int().optional(),
      }),
    ),
    complexity: z.object({
      score: z.number(),
      suggestedTier: z.string(),
      sizeTokens: z.number(),
      sizePoints: z.number(),
      jsonMode: z.boolean(),
      hasVision: z.boolean(),
    }),
  })
  .meta({ id: 'RoutingDecision' });
