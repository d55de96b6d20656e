export * from './pinned-tools';
export * from './locate';
export * from './launch';
