import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import { palyraApp, type AppOptions } from './app';
import { PalyraError } from '../domain/errors';
import { sendError } from './errors';
import { clientErrorHandler, refuseNonUtf8Bodies, requestIdOf } from './request-hygiene';

export interface BuildServerOptions extends AppOptions {
  logger: Logger | false;
}

/** A Fastify instance with Palyra's limits, compilers and the app plugin, ready to listen or inject. */
export async function buildServer(options: BuildServerOptions): Promise<FastifyInstance> {
  const { server } = options.config;
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger as FastifyBaseLogger } : { logger: false }),
    bodyLimit: server.bodyLimitBytes,
    requestTimeout: server.requestTimeoutMs,
    connectionTimeout: server.requestTimeoutMs,
    keepAliveTimeout: 5_000,
    // The client's x-request-id is kept only when it is a safe token (requestIdOf); ours otherwise.
    requestIdHeader: false,
    genReqId: requestIdOf,
    clientErrorHandler,
    return503OnClosing: true,
    // Errors raised before routing (a malformed URL, a bad content type header) keep our one shape.
    frameworkErrors: (error, _request, reply) => {
      void sendError(reply, 'validation_failed', error.message);
    },
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  refuseNonUtf8Bodies(
    app,
    (charset) => new PalyraError('unsupported_media_type', `request bodies must be UTF-8 JSON; got charset ${charset}`),
  );
  await app.register(palyraApp, options);
  return app;
}
