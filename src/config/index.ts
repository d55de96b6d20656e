export { loadConfig, ConfigError, environmentOverrides, otherEnvironmentVariables } from './load';
export type { LoadedConfig, LoadConfigOptions } from './load';
export * from './schema';
