export * from './policy';
export * from './windows';
export * from './evaluate';
export * from './admission';
export * from './alerts';
export * from './holds';
