import { z } from 'zod';
import { roles } from '../../config';
import { consoleActionNames, type ConsoleAction } from './actions';

export const sessionSchema = z
  .object({
    name: z.string().describe("the token's name"),
    role: z.enum(roles),
    tenants: z.array(z.string()).nullable().describe('the tenants the token may act for; null: every tenant'),
    allTenants: z.boolean(),
    can: z
      .object(
        Object.fromEntries(consoleActionNames.map((action) => [action, z.boolean()])) as Record<ConsoleAction, z.ZodBoolean>,
      )
      .describe('the privileged actions this token may take, by the same rules the routes enforce'),
  })
  .meta({ id: 'Session' });
export type Session = z.infer<typeof sessionSchema>;
