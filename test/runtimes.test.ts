// The device half (WASM backend) unchanged in Deno, Bun and Cloudflare's workerd, each from its npm binary: the
// examples under examples/ classify the embedded demo samples, and every exit's label and confidence must equal
// Node's bit for bit (the same kernels, the same f32 arithmetic). Each runtime's peak memory is printed.
//
// Nothing may reach the network: Deno runs without --allow-net, with a private DENO_DIR and no update check; Bun
// with --no-install; workerd serves on loopback only. A missing binary is a failure naming the package, not a skip.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ensureBundle, mib, nodeRef, ROOT, sameAsNode, type Answer } from './runtime-fixtures.js';

// The native binaries themselves, not the node_modules/.bin launchers (Node scripts that spawn them): one process
// to measure and to stop.
const nm = (p: string) => join(ROOT, 'node_modules', p);
const platformBinary = (scope: string, prefix: string, rest: string) => {
  const dir = nm(scope);
  const hit = existsSync(dir) ? readdirSync(dir).find((d) => d.startsWith(prefix) && existsSync(join(dir, d, rest))) : undefined;
  return hit ? join(dir, hit, rest) : join(dir, `${prefix}<platform>`, rest);
};
const DENO = existsSync(nm('deno/deno')) ? nm('deno/deno') : platformBinary('@deno', '', 'deno');
// Bun's postinstall (when npm runs install scripts) moves the platform binary over node_modules/bun/bin/bun.exe, a
// small shell stub otherwise; without install scripts the binary stays in its @oven/bun-<platform> package.
const isRealBinary = (p: string) => existsSync(p) && statSync(p).size > 1 << 20;
const BUN = isRealBinary(nm('bun/bin/bun.exe')) ? nm('bun/bin/bun.exe') : platformBinary('@oven', 'bun-', 'bin/bun');
const WORKERD = platformBinary('@cloudflare', 'workerd-', 'bin/workerd');
const CASES = [{ model: 'fmnist-cnn', limit: 200 }, { model: 'sst2-transformer', limit: 100 }];

interface RunOut { runtime: string; model: string; digest: string; n: number; answers: Answer[]; memory: { peakRss: number | null } }

function need(path: string, pkg: string): void {
  if (!existsSync(path)) throw new Error(`${path} is missing: the ${pkg} devDependency is not installed (npm install)`);
}

interface Proc { code: number | null; signal: string | null; stdout: string; stderr: string }

function run(cmd: string, args: string[], env: Record<string, string>, timeoutMs: number): Promise<Proc> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
  });
}

function parseOut(runtime: string, p: Proc): RunOut {
  assert.is(p.code, 0, `${runtime} exited ${p.code ?? p.signal}: ${p.stderr.slice(-2000)}`);
  try {
    return JSON.parse(p.stdout) as RunOut;
  } catch {
    throw new Error(`${runtime} printed no JSON: ${p.stdout.slice(0, 500)} ${p.stderr.slice(-1000)}`);
  }
}

let denoDir: string | undefined;
test.after(() => { if (denoDir) rmSync(denoDir, { recursive: true, force: true }); });

for (const c of CASES) {
  test(`Deno: ${c.limit} samples of ${c.model}, every exit equal to Node's`, async () => {
    need(DENO, 'deno');
    denoDir ??= mkdtempSync(join(tmpdir(), 'splitee-deno-'));
    const p = await run(DENO, ['run', '--no-prompt', '--no-remote', '--no-npm', '--no-config', '--no-lock', `--allow-read=${ROOT},/proc/self/status`,
      'examples/deno/main.ts', '--model', c.model, '--limit', String(c.limit), '--json'],
    { DENO_DIR: denoDir, DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' }, 60_000);
    const out = parseOut('deno', p);
    const ref = await nodeRef(c.model, c.limit);
    assert.match(out.runtime, /^deno \d/);
    assert.is(out.digest, ref.digest);
    sameAsNode('deno', out.answers, ref);
    assert.ok(typeof out.memory.peakRss === 'number' && out.memory.peakRss > 0, 'deno reported no peak memory');
    console.log(`  ${out.runtime} (${c.model}, ${c.limit} samples): peak RSS ${mib(out.memory.peakRss)}`);
  });

  test(`Deno, the model in a Web Worker (splitee/worker): ${c.limit} samples of ${c.model}, every exit equal to Node's`, async () => {
    need(DENO, 'deno');
    denoDir ??= mkdtempSync(join(tmpdir(), 'splitee-deno-'));
    const p = await run(DENO, ['run', '--no-prompt', '--no-remote', '--no-npm', '--no-config', '--no-lock', `--allow-read=${ROOT},/proc/self/status`,
      'examples/deno/main.ts', '--model', c.model, '--limit', String(c.limit), '--json', '--worker'],
    { DENO_DIR: denoDir, DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' }, 60_000);
    const out = parseOut('deno --worker', p);
    assert.match(out.runtime, /Web Worker/);
    sameAsNode('deno worker', out.answers, await nodeRef(c.model, c.limit));
  });

  test(`Bun: ${c.limit} samples of ${c.model}, every exit equal to Node's`, async () => {
    need(BUN, 'bun');
    const p = await run(BUN, ['--no-install', 'examples/bun/main.ts', '--model', c.model, '--limit', String(c.limit), '--json'],
      { DO_NOT_TRACK: '1', NO_COLOR: '1' }, 60_000);
    const out = parseOut('bun', p);
    const ref = await nodeRef(c.model, c.limit);
    assert.match(out.runtime, /^bun \d/);
    assert.is(out.digest, ref.digest);
    sameAsNode('bun', out.answers, ref);
    assert.ok(typeof out.memory.peakRss === 'number' && out.memory.peakRss > 0, 'bun reported no peak memory');
    console.log(`  ${out.runtime} (${c.model}, ${c.limit} samples): peak RSS ${mib(out.memory.peakRss)}`);
  });
}

/** runtimeFeatures() as a runtime reports it, from the built core module. */
async function featuresIn(cmd: string, args: string[], env: Record<string, string> = {}) {
  const script = `import('${join(ROOT, 'dist/src/runtime/features.js')}').then(async (m) => console.log(JSON.stringify(await m.runtimeFeatures())))`;
  const p = await run(cmd, [...args, script], env, 30_000);
  assert.is(p.code, 0, `${cmd} ${args.join(' ')}: ${p.stderr.slice(-1000)}`);
  return JSON.parse(p.stdout);
}

test('runtimeFeatures: Node, with V8 flags that add or remove relaxed SIMD, threads and WebAssembly', async () => {
  const plain = await featuresIn(process.execPath, ['--input-type=module', '-e']);
  assert.is(plain.runtime.name, 'node');
  assert.is(plain.runtime.version, process.versions.node);
  assert.equal([plain.webAssembly, plain.simd, plain.compileFromBytes, plain.threads], [true, true, true, true]);
  assert.equal([plain.engine.wasm.available, plain.engine.auto], [true, 'wasm']);
  assert.is(plain.webgpu.api, false);
  const relaxed = await featuresIn(process.execPath, ['--experimental-wasm-relaxed-simd', '--input-type=module', '-e']);
  assert.is(relaxed.relaxedSimd, true, 'the relaxed-SIMD probe does not validate where relaxed SIMD is on');
  const noSab = await featuresIn(process.execPath, ['--no-harmony-sharedarraybuffer', '--input-type=module', '-e']);
  assert.equal([noSab.sharedArrayBuffer, noSab.threads, noSab.simd], [false, false, true]);
  const noWasm = await featuresIn(process.execPath, ['--no-expose-wasm', '--input-type=module', '-e']);
  assert.equal([noWasm.webAssembly, noWasm.simd, noWasm.engine.wasm.available, noWasm.engine.auto], [false, false, false, null]);
  assert.match(noWasm.engine.wasm.detail, /no WebAssembly/);
});

test('splitee info --runtime prints the features, as text and as JSON', async () => {
  const json = await run(process.execPath, [join(ROOT, 'bin/splitee.js'), 'info', '--runtime', '--json'], {}, 60_000);
  assert.is(json.code, 0, json.stderr);
  const f = JSON.parse(json.stdout);
  assert.is(f.runtime.name, 'node');
  assert.equal([f.simd, f.engine.wasm.available], [true, true]);
  const text = await run(process.execPath, [join(ROOT, 'bin/splitee.js'), 'info', '--runtime'], {}, 60_000);
  assert.is(text.code, 0, text.stderr);
  assert.match(text.stdout, /^runtime\s+node /m);
  assert.match(text.stdout, /^\s+SIMD\s+yes$/m);
  assert.match(text.stdout, /^\s+auto picks\s+(wasm|webgpu)$/m);
  // What the text says about WebGPU is what the JSON says.
  assert.match(text.stdout, f.engine.webgpu.available ? /^\s+webgpu\s+yes /m : /^\s+webgpu\s+no /m);
});

test('runtimeFeatures: Deno and Bun say who they are and offer the SIMD path', async () => {
  need(DENO, 'deno');
  need(BUN, 'bun');
  denoDir ??= mkdtempSync(join(tmpdir(), 'splitee-deno-'));
  const deno = await featuresIn(DENO, ['eval', '--no-remote', '--no-npm', '--no-config', '--no-lock'], { DENO_DIR: denoDir, DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' });
  assert.is(deno.runtime.name, 'deno');
  const bun = await featuresIn(BUN, ['--no-install', '-e'], { DO_NOT_TRACK: '1' });
  assert.is(bun.runtime.name, 'bun');
  for (const f of [deno, bun]) {
    assert.equal([f.webAssembly, f.simd, f.compileFromBytes, f.engine.wasm.available], [true, true, true, true], JSON.stringify(f));
  }
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

test('workerd: POST /predict on 200 samples of fmnist-cnn equals Node bit for bit; bad requests get typed errors', async () => {
  need(WORKERD, 'workerd');
  ensureBundle();
  const ref = await nodeRef('fmnist-cnn', 200);
  const port = await freePort();
  const child = spawn(WORKERD, ['serve', 'examples/workerd/config.capnp', '--socket-addr', `http=127.0.0.1:${port}`],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (d) => { log += d; });
  child.stderr.on('data', (d) => { log += d; });
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const base = `http://127.0.0.1:${port}`;
  try {
    let health: { ok?: boolean; digest?: string; model?: string } | undefined;
    for (let i = 0; i < 100 && !health; i++) {
      if (child.exitCode !== null) break;
      try { health = await (await fetch(`${base}/healthz`)).json(); } catch { await new Promise((r) => setTimeout(r, 100)); }
    }
    assert.ok(health, `workerd did not answer /healthz: ${log.slice(-2000)}`);
    assert.equal(health, { ok: true, model: 'fmnist-cnn', digest: ref.digest, layers: 7 });

    const answers: Answer[] = [];
    for (let i = 0; i < ref.inputs.length; i += 50) {
      const batch = ref.inputs.slice(i, i + 50).map((x) => ({ pixels: Array.from(x as Float32Array) }));
      const res = await fetch(`${base}/predict`, { method: 'POST', body: JSON.stringify({ batch }) });
      const body = await res.json();
      assert.is(res.status, 200, `POST /predict: ${JSON.stringify(body)} ${log.slice(-1000)}`);
      answers.push(...(body as Answer[]));
    }
    sameAsNode('workerd', answers, ref);
    const features = await (await fetch(`${base}/runtime`)).json();
    assert.is(features.runtime.name, 'workerd');
    assert.equal([features.simd, features.compileFromBytes, features.engine.wasm.available], [true, false, true], JSON.stringify(features));
    assert.match(features.engine.wasm.detail, /compiled module/);
    // One input without a batch gets one answer.
    const one = await (await fetch(`${base}/predict`, { method: 'POST', body: JSON.stringify({ pixels: Array.from(ref.inputs[3] as Float32Array) }) })).json();
    assert.equal(one.exits, ref.exits[3]);

    // workerd has no memory API of its own: its peak RSS is read from Linux's /proc (a report, not a check).
    const statusFile = `/proc/${child.pid}/status`;
    const peak = existsSync(statusFile) ? /VmHWM:\s+(\d+) kB/.exec(readFileSync(statusFile, 'utf8')) : null;
    console.log(`  workerd (fmnist-cnn, 200 samples): peak RSS ${peak ? mib(Number(peak[1]) * 1024) : 'n/a (no /proc here)'}`);

    const bad = async (init: RequestInit, path: string, status: number, error: string) => {
      const res = await fetch(`${base}${path}`, init);
      const body = await res.json();
      assert.is(res.status, status, `${path} ${JSON.stringify(body)}`);
      assert.is(body.error, error);
      assert.type(body.message, 'string');
    };
    await bad({ method: 'GET' }, '/predict', 405, 'METHOD');
    await bad({ method: 'POST', body: '{' }, '/predict', 400, 'BAD_JSON');
    await bad({ method: 'POST', body: JSON.stringify({ pixels: [0.5, 0.5, 0.5] }) }, '/predict', 400, 'BAD_INPUT');
    await bad({ method: 'POST', body: JSON.stringify({ bytes: [300] }) }, '/predict', 400, 'BAD_INPUT');
    await bad({ method: 'POST', body: JSON.stringify({ text: 'an image model' }) }, '/predict', 400, 'BAD_INPUT');
    await bad({ method: 'POST', body: JSON.stringify({ pixels: Array.from(ref.inputs[0] as Float32Array) }) }, '/predict?alpha=2', 400, 'BAD_ALPHA');
    await bad({ method: 'GET' }, '/nope', 404, 'NOT_FOUND');
  } finally {
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});

test.run();
