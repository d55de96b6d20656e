export * from './task-class';
export * from './models';
export * from './complexity';
export * from './candidates';
export * from './circuit-breaker';
export * from './decision';
export { planRoute } from './plan';
export * from './route';
