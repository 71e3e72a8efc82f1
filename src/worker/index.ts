// splitee/worker: the device half in a Web Worker (browsers, Deno). The worker script is ./worker.js beside this.
export { createWorkerModel, WorkerModel, WorkerModelError, type WorkerModelOptions } from './client.js';
