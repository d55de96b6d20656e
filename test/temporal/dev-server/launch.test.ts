import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { DevServerError, startDevServer } from '../../../src/temporal/dev-server';
import { findFreePort } from '../../../src/util/net';
import { testEnv } from '../../support/env';

const cliPath = () => process.env[testEnv.temporalCliPath] as string;

describe('startDevServer', () => {
  it('refuses a port that is already in use, naming the port and the variable to change', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const busyPort = (blocker.address() as net.AddressInfo).port;
    try {
      await expect(
        startDevServer({
          cliPath: cliPath(),
          port: busyPort,
          uiPort: await findFreePort(),
          dbFile: path.join(os.tmpdir(), 'unused.db'),
          namespace: 'default',
        }),
      ).rejects.toThrow(
        new DevServerError(
          `port ${busyPort} (Temporal dev server gRPC) is already in use on 127.0.0.1: stop the process using it, ` +
            'set PALYRA_DEV_TEMPORAL_PORT to a free port, or set TEMPORAL_ADDRESS to use a Temporal server that is already running',
        ),
      );
    } finally {
      blocker.close();
    }
  });

  it('starts a server that serves the namespace, and stops it', async () => {
    const server = await startDevServer({
      cliPath: cliPath(),
      port: await findFreePort(),
      uiPort: await findFreePort(),
      dbFile: path.join(os.tmpdir(), `palyra-launch-${process.pid}-${Date.now()}.db`),
      namespace: 'launch-test',
    });
    const connection = await Connection.connect({ address: server.address });
    const described = await connection.workflowService.describeNamespace({ namespace: 'launch-test' });
    expect(described.namespaceInfo?.name).toBe('launch-test');
    await connection.close();
    await server.stop();
    expect(() => process.kill(server.pid, 0)).toThrow();
  });
});
