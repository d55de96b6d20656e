import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { configSchema, environmentOverrides, otherEnvironmentVariables } from '../src/config';

/**
 * No Docker engine runs here, so the compose file is checked against the code instead: the
 * services exist, Palyra's services only use variables the config understands, and the addresses
 * and ports agree with each other.
 */
interface ComposeService {
  image?: string;
  build?: string;
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  depends_on?: Record<string, unknown> | string[];
}

const compose = YAML.parse(fs.readFileSync(path.resolve(__dirname, '..', 'docker-compose.yml'), 'utf8')) as {
  services: Record<string, ComposeService>;
};
const services = compose.services;
const palyraServices = ['palyra-api', 'palyra-worker'] as const;
const knownVariables = new Set<string>([...environmentOverrides.map((o) => o.name), ...otherEnvironmentVariables]);

function hostPort(address: string): [string, number] {
  const url = address.includes('://') ? new URL(address) : new URL(`tcp://${address}`);
  return [url.hostname, Number(url.port)];
}

function publishedContainerPorts(service: ComposeService): number[] {
  return (service.ports ?? []).map((mapping) => Number(mapping.split(':').pop()));
}

describe('docker-compose.yml', () => {
  it('runs Temporal on PostgreSQL, the Temporal UI, the API and the worker', () => {
    expect(Object.keys(services)).toEqual(
      expect.arrayContaining(['postgresql', 'temporal', 'temporal-ui', 'palyra-api', 'palyra-worker']),
    );
    expect(services.temporal?.environment?.DB).toMatch(/^postgres/);
    expect(services['palyra-api']?.command).toEqual(['api']);
    expect(services['palyra-worker']?.command).toEqual(['worker']);
  });

  it.each(palyraServices)('%s only sets variables that Palyra reads, with values the config schema accepts', (name) => {
    const environment = services[name]?.environment ?? {};
    const unknown = Object.keys(environment).filter((key) => !knownVariables.has(key));
    expect(unknown).toEqual([]);

    const config: Record<string, unknown> = {};
    for (const override of environmentOverrides) {
      const value = environment[override.name];
      if (value === undefined) continue;
      let node = config;
      for (const key of override.path.slice(0, -1)) node = (node[key] ??= {}) as Record<string, unknown>;
      node[override.path[override.path.length - 1] as string] = override.kind === 'port' ? Number(value) : value;
    }
    expect(configSchema.safeParse(config).error).toBeUndefined();
  });

  it.each(palyraServices)('%s points at the Temporal and PostgreSQL services it depends on', (name) => {
    const service = services[name] as ComposeService;
    const environment = service.environment ?? {};
    const [temporalHost, temporalPort] = hostPort(environment.TEMPORAL_ADDRESS as string);
    expect(temporalHost).toBe('temporal');
    expect(publishedContainerPorts(services.temporal as ComposeService)).toContain(temporalPort);
    const [databaseHost, databasePort] = hostPort(environment.DATABASE_URL as string);
    expect(databaseHost).toBe('postgresql');
    expect(publishedContainerPorts(services.postgresql as ComposeService)).toContain(databasePort);
    expect(Object.keys(service.depends_on ?? {})).toContain('temporal');
  });

  it('publishes the API on the port it listens on, reachable from outside the container', () => {
    const api = services['palyra-api'] as ComposeService;
    expect(publishedContainerPorts(api)).toContain(Number(api.environment?.PALYRA_PORT));
    expect(api.environment?.PALYRA_HOST).toBe('0.0.0.0');
  });

  it('links runs to the Temporal UI port that compose publishes', () => {
    const uiUrl = new URL(services['palyra-api']?.environment?.PALYRA_TEMPORAL_UI_URL as string);
    const published = (services['temporal-ui']?.ports ?? []).map((mapping) => Number(mapping.split(':')[0]));
    expect(published).toContain(Number(uiUrl.port));
    const [uiTemporalHost] = hostPort(services['temporal-ui']?.environment?.TEMPORAL_ADDRESS as string);
    expect(uiTemporalHost).toBe('temporal');
  });
});
