// `npm run loadtest -- [--replicas N] [--devices D] [--duration S] [--kill-one] [--json] [--model M] [--dataset S]
// [--samples-per-device K] [--dtype int8] [--max-concurrent C] [--engine wasm|onnxruntime] [--protocol v1|v2]`: HAProxy (deploy/haproxy.cfg) in front of N
// `splitee serve` replicas on loopback, D simulated devices (real device runners, each with its own SplitEE policy)
// streaming the dataset through it for S seconds; with --kill-one, one replica is SIGKILLed half-way (--drain-one:
// SIGTERMed, a graceful drain). Prints the
// counts (every sample answered exactly once: lost = duplicated = 0) and the throughput and latency.
import { parseArgs } from 'node:util';
import { runLoadtest, type LoadtestResult } from './loadtest-lib.js';

const KEYS = ['balancer', 'replicas', 'devices', 'samples', 'answered', 'lost', 'duplicated', 'errors', 'samplesPerSec', 'p50Ms', 'p95Ms', 'p99Ms'] as const;

function positiveInt(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) { console.error(`loadtest: --${name} must be a positive integer, got '${v}'`); process.exit(2); }
  return n;
}

function engineOf(v: string | undefined): 'wasm' | 'onnxruntime' {
  if (v === undefined || v === 'wasm' || v === 'onnxruntime') return v ?? 'wasm';
  console.error(`loadtest: --engine must be wasm or onnxruntime, got '${v}'`);
  process.exit(2);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      replicas: { type: 'string' }, devices: { type: 'string' }, duration: { type: 'string' }, 'kill-one': { type: 'boolean' }, 'drain-one': { type: 'boolean' },
      json: { type: 'boolean' }, model: { type: 'string' }, dataset: { type: 'string' }, 'samples-per-device': { type: 'string' },
      dtype: { type: 'string' }, 'max-concurrent': { type: 'string' }, engine: { type: 'string' }, protocol: { type: 'string' }, help: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help) {
    console.log('usage: npm run loadtest -- [--replicas 2] [--devices 50] [--duration 10] [--kill-one | --drain-one] [--json] [--model fmnist-cnn]\n'
      + '                           [--dataset fmnist:test] [--samples-per-device 100000] [--dtype int8] [--max-concurrent 4] [--engine wasm|onnxruntime] [--protocol v1|v2]');
    return 0;
  }
  const replicas = positiveInt('replicas', values.replicas, 2);
  if ((values['kill-one'] || values['drain-one']) && replicas < 2) { console.error('loadtest: --kill-one / --drain-one need --replicas 2 or more'); return 2; }
  const result: LoadtestResult = await runLoadtest({
    replicas,
    devices: positiveInt('devices', values.devices, 50),
    durationS: positiveInt('duration', values.duration, 10),
    killOne: Boolean(values['kill-one'] || values['drain-one']),
    killSignal: values['drain-one'] ? 'SIGTERM' : 'SIGKILL',
    model: values.model ?? 'fmnist-cnn',
    dataset: values.dataset ?? 'fmnist:test',
    maxSamplesPerDevice: positiveInt('samples-per-device', values['samples-per-device'], 100_000),
    dtype: (values.dtype ?? 'int8') as 'int8',
    maxConcurrent: positiveInt('max-concurrent', values['max-concurrent'], 4),
    engine: engineOf(values.engine),
    protocol: values.protocol === 'v2' ? 'v2' : values.protocol === undefined || values.protocol === 'v1' ? 'v1' : (() => { console.error(`loadtest: --protocol must be v1 or v2, got '${values.protocol}'`); process.exit(2); })(),
    log: values.json ? undefined : (l) => console.error(`loadtest: ${l}`),
  });
  if (values.json) {
    // The documented keys first, then the details.
    const out: Record<string, unknown> = {};
    for (const k of KEYS) out[k] = result[k];
    console.log(JSON.stringify({ ...out, ...result }));
  } else {
    console.log(`${result.replicas} ${result.engine} replica(s) behind ${result.balancer}, ${result.devices} devices, ${result.durationS} s${result.killedAt !== undefined ? `, one replica ${values['drain-one'] ? 'SIGTERMed' : 'SIGKILLed'} at ${result.killedAt} s` : ''}`);
    console.log(`samples ${result.samples}: answered ${result.answered}, lost ${result.lost}, duplicated ${result.duplicated}; ${result.errors} failed attempts retried ${JSON.stringify(result.errorCodes)}`);
    console.log(`${result.samplesPerSec} samples/s, offload rate ${(100 * result.offloadRate).toFixed(1)} %, ${result.offloadsPerSec} offloads/s answered`);
    console.log(`per sample p50 ${result.p50Ms} ms, p95 ${result.p95Ms} ms, p99 ${result.p99Ms} ms; cloud round trip p50 ${result.cloudP50Ms} ms, p99 ${result.cloudP99Ms} ms`);
    console.log(`replicas used ${result.replicaCpuS} CPU s: ${result.offloadsPerCpuS} offloads per replica CPU second; answers per replica ${JSON.stringify(result.perReplica)}`);
  }
  return result.lost === 0 && result.duplicated === 0 ? 0 : 1;
}

main().then((code) => { process.exitCode = code; }, (e) => { console.error(`loadtest: ${(e as Error)?.message ?? e}`); process.exitCode = 1; });
