// The load test, small: HAProxy with the repository's deploy/haproxy.cfg in front of 2 `splitee serve` replicas on
// loopback, 20 real device runners streaming fmnist for a few seconds, one replica SIGKILLed half-way. Every sample
// must be answered exactly once (lost = duplicated = 0) and both replicas must have served. Also: the config renders
// the way the test and the load test use it, and a replica drains on SIGTERM (readyz goes 503, work in flight ends).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { HAPROXY_TEMPLATE, BIN, renderHaproxyConfig, runLoadtest } from '../bench/loadtest-lib.js';

function haproxyVersion(): string {
  try { return execFileSync('haproxy', ['-v'], { encoding: 'utf8' }).split('\n')[0]; } catch (e) {
    throw new Error(`the load balancer test needs Debian's haproxy (apt-get install haproxy): ${(e as Error).message}`);
  }
}

test('deploy/haproxy.cfg renders one server line per replica, health-checked on /readyz, and haproxy accepts it', () => {
  const template = readFileSync(HAPROXY_TEMPLATE, 'utf8');
  const cfg = renderHaproxyConfig(template, 18080, [19001, 19002, 19003], 6);
  const servers = cfg.split('\n').filter((l) => /^\s*server /.test(l));
  assert.equal(servers.map((l) => l.trim()), [1, 2, 3].map((i) => `server replica${i} 127.0.0.1:${19000 + i} check maxconn 6`));
  assert.match(cfg, /bind 127\.0\.0\.1:18080/);
  assert.match(cfg, /option httpchk GET \/readyz/);
  assert.not.match(cfg.split('\n').filter((l) => !/^\s*#/.test(l)).join('\n'), /\{\{/);
  haproxyVersion();
  const path = `/tmp/splitee-haproxy-check-${process.pid}.cfg`;
  execFileSync('sh', ['-c', `cat > ${path} && haproxy -c -q -f ${path}; s=$?; rm -f ${path}; exit $s`], { input: cfg });
});

test('SIGTERM drains a replica: /readyz turns 503 while its request finishes, then it exits 0', async () => {
  const child = spawn(process.execPath, [BIN, 'serve', '--model', 'fmnist-cnn', '--port', '0', '--workers', '2', '--quiet'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (err += c));
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  try {
    const t0 = Date.now();
    while (!/listening on (\S+)/.test(out)) {
      if (child.exitCode !== null || Date.now() - t0 > 20_000) throw new Error(`serve did not start: ${out}${err}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const url = /listening on (\S+)/.exec(out)![1];
    assert.match(out, /2 workers/);
    // Both workers answer on the one port.
    const pids = new Set<number>();
    for (let i = 0; i < 40 && pids.size < 2; i++) pids.add((await (await fetch(`${url}/readyz`)).json() as { pid: number }).pid);
    assert.is(pids.size, 2, 'two worker processes behind one port');
    child.kill('SIGTERM');
    assert.is(await exited, 0, err);
    assert.match(err, /closed after SIGTERM \(2 workers drained\)/);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

test('2 replicas behind haproxy, 20 devices, one replica SIGKILLed mid-run: every sample answered exactly once', async () => {
  haproxyVersion();
  // f32 frames (25 KB after layer 1) are past HAProxy's replay buffer, so the device runners' own retries are exercised too.
  const r = await runLoadtest({ replicas: 2, devices: 20, durationS: 4, killOne: true, model: 'fmnist-cnn', dataset: 'fmnist:test', maxSamplesPerDevice: 2000, dtype: 'f32' });
  assert.is(r.balancer, 'haproxy');
  assert.ok(r.samples >= 100, `only ${r.samples} samples streamed`);
  assert.ok(r.offloaded >= 20, `only ${r.offloaded} offloads`);
  assert.is(r.lost, 0, JSON.stringify(r));
  assert.is(r.duplicated, 0, JSON.stringify(r));
  assert.is(r.answered, r.samples);
  assert.ok(r.killedAt !== undefined);
  assert.is(r.perReplica[0], null, 'the killed replica is gone');
  assert.ok((r.perReplica[1] ?? 0) > 0, 'the survivor answered');
  for (const k of ['balancer', 'replicas', 'devices', 'samples', 'answered', 'lost', 'duplicated', 'errors', 'samplesPerSec', 'p50Ms', 'p95Ms', 'p99Ms'] as const) {
    assert.ok(k in r, k);
  }
  assert.ok(r.p50Ms <= r.p95Ms && r.p95Ms <= r.p99Ms);
});

test.run();
