export * from './types.js';
export * from './ucb.js';
export * from './baselines.js';
export * from './registry.js';
