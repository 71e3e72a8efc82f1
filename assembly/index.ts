// splitee WASM kernels: one module, no imports, no allocation (see docs/KERNELS.md for the ABI).
export * from './gemm';
export * from './conv';
export * from './pool';
export * from './elementwise';
export * from './norm';
export * from './attention';
export * from './quant';
export * from './peak';
