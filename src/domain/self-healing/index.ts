export * from './types';
export * from './settings';
export * from './remediations';
export * from './detectors';
export * from './incident';
export * from './throttle';
