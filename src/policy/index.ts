export * from './types.js';
export * from './ucb.js';
export * from './baselines.js';
export * from './registry.js';
export * from './decision.js';
export * from './discounted.js';
export * from './measured-costs.js';
export * from './costaware.js';
