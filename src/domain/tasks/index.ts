export * from './kinds';
export * from './schedule';
export * from './task-state';
