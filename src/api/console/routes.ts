import fs from 'node:fs/promises';
import path from 'node:path';
import type { FastifyReply } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { PalyraError } from '../../domain/errors';

/**
 * Where `npm run build:console` writes the single-page app: `dist/console-app` at the package root,
 * which is three folders up from this file both in `src/api/console` and in its built copy `dist/api/console`.
 */
export const consoleBuildDir = path.resolve(__dirname, '..', '..', '..', 'dist', 'console-app');

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

const missingBuildPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8" /><title>Palyra · console not built</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; line-height: 1.5">
<h1>The operations console is not built</h1>
<p>Its files are produced by the build, not committed. Run <code>npm run build:console</code> (or <code>npm install</code>,
which builds it) in the Palyra folder and reload this page.</p>
</body></html>
`;

/** A request path under /console that names a file (it has an extension), or undefined for a client route. */
function assetPathOf(buildDir: string, rest: string): string | undefined {
  if (!/\.[a-z0-9]+$/i.test(rest)) return undefined;
  const resolved = path.resolve(buildDir, rest);
  // `..` segments must never leave the build folder.
  if (!resolved.startsWith(buildDir + path.sep)) throw new PalyraError('not_found', `console file ${rest} not found`);
  return resolved;
}

async function sendIndex(reply: FastifyReply, buildDir: string) {
  try {
    const html = await fs.readFile(path.join(buildDir, 'index.html'));
    return reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(html);
  } catch {
    return reply.code(503).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(missingBuildPage);
  }
}

/**
 * The operations console (React, built by Vite into `dist/console-app`). Public on purpose: the
 * files hold no data, and every call the app makes goes through the authenticated API with the
 * operator's token. Files are read per request, so a rebuild shows without a restart; hashed assets
 * are immutable, index.html is revalidated. Every other path under /console is a client route and
 * gets index.html, except /console/v1/*, which belongs to the API (diagnostics, doctor) and is a 404 there.
 */
export const consoleRoutes: FastifyPluginAsyncZod<{ buildDir?: string }> = async (app, options) => {
  const buildDir = path.resolve(options.buildDir ?? consoleBuildDir);
  const route = { config: { auth: 'public' as const }, schema: { hide: true } };

  app.get('/console', route, async (_request, reply) => sendIndex(reply, buildDir));

  app.get('/console/*', route, async (request, reply) => {
    const rest = (request.params as { '*': string })['*'];
    if (rest === 'v1' || rest.startsWith('v1/')) throw new PalyraError('not_found', `no route GET /console/${rest}`);
    const file = assetPathOf(buildDir, rest);
    if (!file) return sendIndex(reply, buildDir);
    let content: Buffer;
    try {
      content = await fs.readFile(file);
    } catch {
      throw new PalyraError('not_found', `console file ${rest} not found`);
    }
    const type = contentTypes[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
    const immutable = rest.startsWith('assets/');
    return reply
      .type(type)
      .header('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
      .send(content);
  });
};
