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
