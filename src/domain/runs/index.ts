export * from './document';
export * from './summary';
