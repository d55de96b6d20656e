export * from './document';
export * from './ids';
export * from './kinds';
export * from './schedule';
export * from './task-state';
