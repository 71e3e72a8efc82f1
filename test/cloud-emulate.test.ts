// The emulated network: specs and schedules parse (or fail with a typed error), the link's queue shares bandwidth,
// and on a real server on loopback the round trip a device measures is at least the emulated RTT plus the bytes'
// serialization time; the control endpoint changes the conditions while the server runs.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rng, randn } from './util.js';
import { DIGEST, fakeModel } from './cloud-fake.js';
import { EmulateError, NetworkEmulator, parseConditions, parseSchedule } from '../src/cloud/emulate.js';
import { createCloudServer } from '../src/cloud/server.js';
import { HttpCloudClient } from '../src/device/cloud.js';
import { encode } from '../src/transport/codec.js';
import { encodeFrame } from '../src/transport/frame.js';

const r = rng(1603);

test('conditions and schedules parse with units; bad ones are typed errors', () => {
  assert.equal(parseConditions('rtt=80ms,bw=2mbit'), { rttMs: 80, bitsPerSecond: 2e6 });
  assert.equal(parseConditions(' bw = 512kbit , rtt = 0.5s '), { rttMs: 500, bitsPerSecond: 512e3 });
  assert.equal(parseConditions('rtt=250us'), { rttMs: 0.25, bitsPerSecond: Infinity });
  assert.equal(parseSchedule('0s:rtt=2ms,bw=100mbit;20s:rtt=120ms,bw=1mbit'), [
    { atMs: 0, rttMs: 2, bitsPerSecond: 100e6 }, { atMs: 20_000, rttMs: 120, bitsPerSecond: 1e6 }]);
  // A schedule that starts later runs unshaped until its first step.
  assert.equal(parseSchedule('5s:rtt=10ms')[0], { atMs: 0, rttMs: 0, bitsPerSecond: Infinity });
  for (const bad of ['', 'rtt=80', 'rtt=fast', 'bw=0mbit', 'loss=1%', 'rtt=1ms,rtt=2ms', '10s:rtt=1ms;5s:rtt=2ms', 'rtt=-3ms']) {
    assert.throws(() => parseSchedule(bad), (e: unknown) => e instanceof EmulateError && e.code === 'BAD_EMULATION', bad);
  }
});

test('the schedule follows the clock; transfers queue behind each other on the shared link', async () => {
  let now = 1000;
  const slept: number[] = [];
  const emu = new NetworkEmulator('0s:rtt=2ms,bw=100mbit;20s:rtt=120ms,bw=1mbit', { now: () => now, sleep: async (ms) => { slept.push(ms); } });
  assert.equal(emu.conditions(), { rttMs: 2, bitsPerSecond: 100e6 });
  now += 19_999; assert.is(emu.conditions().rttMs, 2);
  now += 1; assert.equal(emu.conditions(), { rttMs: 120, bitsPerSecond: 1e6 });
  // 1 Mbit/s: 12,500 bytes take 100 ms; a second transfer at the same instant waits for the first.
  await emu.uplink(12_500);
  await emu.uplink(12_500);
  assert.equal(slept, [160, 260]);
  // The downlink has its own queue.
  await emu.downlink(125);
  assert.is(slept[2], 61);
  emu.set('rtt=10ms');
  assert.equal(emu.conditions(), { rttMs: 10, bitsPerSecond: Infinity });
});

test('on loopback, a device\'s round trip is at least the emulated RTT plus serialization; PUT /v1/emulate changes it', async () => {
  const s = await createCloudServer({ model: fakeModel(), port: 0, emulate: 'rtt=80ms,bw=2mbit', token: 't0k' });
  try {
    const client = new HttpCloudClient(s.url, { token: 't0k' });
    const frame = encodeFrame({ digest: DIGEST, splitLayer: 1, tensor: encode(randn(r, 36), [4, 3, 3], 'f32') });
    await client.infer(frame); // warm the connection
    const expected = (ms: number, bps: number, answerBytes = 150) => ms + ((frame.length + answerBytes) * 8 * 1000) / bps;
    const times: number[] = [];
    for (let i = 0; i < 3; i++) { const t0 = performance.now(); await client.infer(frame); times.push(performance.now() - t0); }
    const want = expected(80, 2e6);
    for (const t of times) assert.ok(t >= want - 2 && t < want + 1500, `round trip ${t.toFixed(1)} ms, emulated ≥ ${want.toFixed(1)} ms`);
    const ctl = await fetch(`${s.url}/v1/emulate`);
    assert.is((await ctl.json() as { now: string }).now, 'rtt=80ms,bw=2mbit');
    const denied = await fetch(`${s.url}/v1/emulate`, { method: 'PUT', body: 'rtt=300ms' });
    assert.is(denied.status, 401);
    const bad = await fetch(`${s.url}/v1/emulate`, { method: 'PUT', body: 'rtt=soon', headers: { Authorization: 'Bearer t0k' } });
    assert.is(bad.status, 400); assert.is((await bad.json() as { error: string }).error, 'BAD_EMULATION');
    const put = await fetch(`${s.url}/v1/emulate`, { method: 'PUT', body: 'rtt=300ms,bw=1gbit', headers: { Authorization: 'Bearer t0k' } });
    assert.is(put.status, 200);
    const t0 = performance.now();
    await client.infer(frame);
    const slow = performance.now() - t0;
    assert.ok(slow >= 298 && slow < 2000, `after PUT: ${slow.toFixed(1)} ms`);
  } finally {
    await s.close({ graceMs: 200 });
  }
  // Without the option there is no control endpoint.
  const plain = await createCloudServer({ model: fakeModel(), port: 0 });
  try { assert.is((await fetch(`${plain.url}/v1/emulate`)).status, 404); } finally { await plain.close({ graceMs: 100 }); }
});

test.run();
