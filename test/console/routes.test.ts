import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { consoleRoutes } from '../../src/api/console/routes';
import { registerErrorHandling } from '../../src/api/errors';

/** How Fastify serves the console's build: files, client routes, the API's own paths, and no build at all. */
async function consoleApp(buildDir: string): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerErrorHandling(app);
  await app.register(consoleRoutes, { buildDir });
  return app;
}

describe('console routes', () => {
  let dir: string;
  let app: FastifyInstance;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'palyra-console-build-'));
    fs.mkdirSync(path.join(dir, 'assets'));
    fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>app</title>');
    fs.writeFileSync(path.join(dir, 'assets', 'index-abc123.js'), 'console.log(1)');
    fs.writeFileSync(path.join(path.dirname(dir), 'outside-the-build.txt'), 'secret');
    app = await consoleApp(dir);
  });
  afterAll(async () => {
    await app.close();
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(path.join(path.dirname(dir), 'outside-the-build.txt'), { force: true });
  });

  it('serves index.html for the app and its client routes, and hashed assets as immutable', async () => {
    for (const url of ['/console', '/console/', '/console/runs/6f1c2a9e-0000-4000-8000-000000000000', '/console/budgets?x=1']) {
      const page = await app.inject({ method: 'GET', url });
      expect({ url, status: page.statusCode, type: page.headers['content-type'] }).toEqual({
        url,
        status: 200,
        type: 'text/html; charset=utf-8',
      });
      expect(page.body).toContain('<title>app</title>');
      expect(page.headers['cache-control']).toBe('no-cache');
    }
    const asset = await app.inject({ method: 'GET', url: '/console/assets/index-abc123.js' });
    expect(asset.statusCode).toBe(200);
    expect(asset.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(asset.headers['cache-control']).toContain('immutable');
  });

  it('never leaves the build folder, answers 404 for missing files and leaves /console/v1 to the API', async () => {
    for (const url of ['/console/assets/missing.js', '/console/..%2Foutside-the-build.txt', '/console/v1/nothing']) {
      const answer = await app.inject({ method: 'GET', url });
      expect({ url, status: answer.statusCode }).toEqual({ url, status: 404 });
      expect(answer.json().error.code).toBe('not_found');
      expect(answer.body).not.toContain('secret');
    }
  });

  it('says how to build the console when there is no build', async () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'palyra-console-none-'));
    const bare = await consoleApp(empty);
    try {
      const page = await bare.inject({ method: 'GET', url: '/console/runs' });
      expect(page.statusCode).toBe(503);
      expect(page.body).toContain('npm run build:console');
    } finally {
      await bare.close();
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });
});
