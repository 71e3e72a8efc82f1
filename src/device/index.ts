// The device side of a split: the live runner and the clients that reach the cloud half (browser-safe).
export * from './cloud.js';
export * from './local-client.js';
export * from './runner.js';
export * from './transport-report.js';
export * from './v2-client.js';
