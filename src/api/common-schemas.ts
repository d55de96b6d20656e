import { z } from 'zod';

/** Fields more than one resource shares; each resource's own schemas live in its folder. */
export const identifier = (what: string) =>
  z
    .string()
    .min(1)
    .max(128)
    .regex(/^[A-Za-z0-9][A-Za-z0-9._:@-]*$/, `${what} may contain letters, digits and . _ : @ - only`);

export const chatMessageSchema = z
  .object({
    role: z.enum(['system', 'user', 'assistant']),
    content: z.string().max(512 * 1024),
  })
  .strict();

export const simulationSchema = z
  .object({
    outputTokens: z.number().int().min(0).max(100_000),
    chunkDelayMs: z.number().int().min(0).max(60_000),
    stallAfterTokens: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe('on the first attempt, pause for stallMs after this many tokens'),
    stallMs: z.number().int().min(0).max(3_600_000).optional(),
    failAttempts: z.number().int().min(0).max(100).optional(),
    failure: z.enum(['http_429', 'http_500', 'stream_cut']).optional(),
  })
  .strict()
  .meta({ id: 'Simulation', description: 'Pacing and fault injection; only for models of a `simulated` provider.' });
