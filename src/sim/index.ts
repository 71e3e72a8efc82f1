export * from './matrix.js';
export * from './csv.js';
export * from './simulator.js';
export * from './metrics.js';
export * from './regret.js';
export * from './experiment.js';
export * from './svg.js';
export * from './confidence.js';
