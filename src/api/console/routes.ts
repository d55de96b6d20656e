import fs from 'node:fs';
import path from 'node:path';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';

/** `src/console/static` next to the sources, or its copy under `dist/` after a build. */
const staticDir = path.resolve(__dirname, '..', '..', 'console', 'static');

const assets = {
  '/console': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/console/console.js': { file: 'console.js', type: 'text/javascript; charset=utf-8' },
  '/console/console.css': { file: 'console.css', type: 'text/css; charset=utf-8' },
} as const;

/**
 * The operations console's static files. Public on purpose: they hold no data, and every call
 * the page makes goes through the authenticated API with the operator's token.
 */
export const consoleRoutes: FastifyPluginAsyncZod = async (app) => {
  for (const [url, asset] of Object.entries(assets)) {
    const content = fs.readFileSync(path.join(staticDir, asset.file));
    app.get(url, { config: { auth: 'public' }, schema: { hide: true } }, async (_request, reply) =>
      reply.type(asset.type).header('cache-control', 'no-cache').send(content),
    );
  }
};
