// Public surface of the transport: the activation codec and the wire frame (both browser-safe).
export * from './codec.js';
export * from './frame.js';
