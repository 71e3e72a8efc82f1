// The package as a user gets it: `npm pack`, installed into an empty folder, runs `splitee demo` (on the sample it
// ships, when no dataset is around), `splitee predict`, and a TypeScript ESM consumer compiles against its types
// with skipLibCheck off, for Node and for a browser bundler. Also: what the tarball holds, that npm prints no
// config warnings, and that `npm test` checks its prerequisites first.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { packageRoot } from '../src/node.js';
import { simplePng } from './image-png.js';

const exec = promisify(execFile);
const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8'));
const work = mkdtempSync(join(tmpdir(), 'splitee-package-'));
const app = join(work, 'app');

/** The environment of a user's shell: none of npm's lifecycle variables, no dataset override. */
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  // FORCE_COLOR too: a test runner may set it, and console.log would then colour the numbers the tests read.
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k) && !['SPLITEE_DATA', 'INIT_CWD', 'FORCE_COLOR'].includes(k)) env[k] = v;
  return { ...env, ...extra };
}

async function sh(cmd: string, args: string[], cwd: string, env = userEnv()) {
  try {
    const { stdout, stderr } = await exec(cmd, args, { cwd, env, maxBuffer: 64 << 20, timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout ?? '', stderr: err.stderr ?? String(e) };
  }
}

let tarball = '';
let files: string[] = [];

test('npm pack: under 2 MB, the samples, licence and models in, tests, sources and the web server out, no warnings', async () => {
  const r = await sh('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], packageRoot);
  assert.is(r.code, 0, r.stderr);
  assert.not.match(r.stderr, /npm warn/i, 'npm printed a warning');
  const info = JSON.parse(r.stdout)[0];
  tarball = join(work, info.filename);
  files = info.files.map((f: { path: string }) => f.path);
  assert.ok(info.size < 2_000_000, `packed size ${info.size}`);
  for (const f of ['LICENSE', 'README.md', 'package.json', 'bin/splitee.js', 'samples/fmnist-test.bin.gz', 'samples/sst2-dev.bin.gz',
    'models/fmnist-cnn/fmnist-cnn.spx', 'models/sst2-transformer/sst2-transformer.spx', 'dist/src/node.js', 'dist/src/node.d.ts',
    'dist/src/index.d.ts', 'dist/src/cli.js']) assert.ok(files.includes(f), `${f} is in the package`);
  for (const f of files) {
    assert.not.match(f, /^(test|bench|src|assembly|scripts|web|reports|build)\//, `${f} should not ship`);
    assert.not.match(f, /^dist\/(test|bench)\//, `${f} should not ship`);
    assert.not.match(f, /\.onnx$|\.py$/, `${f} should not ship`);
  }
  assert.match(readFileSync(join(packageRoot, 'LICENSE'), 'utf8'), /^MIT License[\s\S]*splitee contributors/);
  for (const k of ['repository', 'homepage', 'bugs', 'keywords', 'license']) assert.ok(pkg[k], `package.json has ${k}`);
  assert.ok(!existsSync(join(packageRoot, '.npmrc')) || !/onnxruntime/.test(readFileSync(join(packageRoot, '.npmrc'), 'utf8')), 'no project npm config that npm warns about');
});

test('every shipped module resolves: relative imports to shipped files, bare ones to Node or declared optional peers', () => {
  const shipped = new Set(files);
  const peers = Object.keys(pkg.peerDependencies ?? {});
  for (const p of peers) assert.ok(pkg.peerDependenciesMeta?.[p]?.optional, `peer ${p} is optional (the core has no dependencies)`);
  assert.equal(pkg.dependencies ?? {}, {}, 'no runtime dependencies');
  for (const f of files.filter((x) => x.endsWith('.js'))) {
    const src = readFileSync(join(packageRoot, f), 'utf8');
    const statics = [...src.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;'"]*?\bfrom\s*['"]([^'"]+)['"]/g), ...src.matchAll(/(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g)];
    const dynamics = [...src.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)];
    for (const m of [...statics, ...dynamics]) {
      const spec = m[1];
      if (spec.startsWith('.')) {
        const target = relative('.', join(dirname(f), spec));
        assert.ok(shipped.has(target), `${f} imports ${spec}, which does not ship`);
      } else {
        const bare = spec.startsWith('node:') ? spec.slice(5) : spec;
        assert.ok(builtinModules.includes(bare) || peers.includes(spec), `${f} imports '${spec}', not a Node module nor a declared peer`);
      }
    }
  }
  // The Node entry point and the core have their own declarations for their own export conditions.
  const dot = pkg.exports['.'];
  assert.equal(dot.node, { types: './dist/src/node.d.ts', default: './dist/src/node.js' });
  assert.is(dot.types, './dist/src/index.d.ts');
  assert.is(Object.keys(dot)[0], 'node', 'the node condition comes first');
  assert.is(pkg.types, './dist/src/node.d.ts');
});

test('installed into an empty folder: no warnings; demo runs on the shipped sample; predict works; optional peers are named', async () => {
  mkdirSync(app, { recursive: true });
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  const inst = await sh('npm', ['install', '--no-audit', '--no-fund', tarball], app);
  assert.is(inst.code, 0, inst.stderr);
  assert.not.match(inst.stderr + inst.stdout, /npm warn/i);
  assert.ok(!existsSync(join(app, 'node_modules', 'webgpu')) && !existsSync(join(app, 'node_modules', 'jpeg-js')), 'optional peers are not installed');

  const version = await sh('npx', ['--no', '--', 'splitee', '--version'], app);
  assert.is(version.stdout.trim(), pkg.version, version.stderr);
  assert.not.match(version.stderr, /npm warn/i);

  const demo = await sh('npx', ['--no', '--', 'splitee', 'demo', '--limit', '200', '--json', '--out', join(work, 'reports')], app);
  assert.is(demo.code, 0, demo.stderr);
  assert.not.match(demo.stderr, /npm warn/i);
  const d = JSON.parse(demo.stdout);
  const systemData = existsSync('/usr/share/datasets/fashion-mnist');
  assert.is(d.source, systemData ? 'full' : 'sample', 'with no dataset beside the app, the shipped sample is used');
  assert.is(d.n, 200);
  assert.ok(d.accuracy > 0.8 && d.costReduction > 0.2, JSON.stringify(d));
  const text = await sh('npx', ['--no', '--', 'splitee', 'demo', '--sample', '--model', 'sst2-transformer', '--limit', '100'], app);
  assert.is(text.code, 0, text.stderr);
  assert.match(text.stdout, /data: the sample shipped in the package \(872 samples of sst2:dev/);

  writeFileSync(join(app, 'shoe.png'), simplePng(2, 2, 1, Uint8Array.from([0, 255, 255, 0])));
  const p = await sh('npx', ['--no', '--', 'splitee', 'predict', '--model', 'fmnist-cnn', 'shoe.png', '--json'], app);
  assert.is(p.code, 0, p.stderr);
  const pj = JSON.parse(p.stdout);
  assert.is(pj.predictions.length, 5);
  assert.ok(pj.exit >= 1 && pj.exit <= 7);
  const t = await sh('npx', ['--no', '--', 'splitee', 'predict', '--model', 'sst2-transformer', 'a moving, beautifully acted film'], app);
  assert.is(t.code, 0, t.stderr);
  assert.match(t.stdout, /positive/);

  writeFileSync(join(app, 'photo.jpg'), Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0, 16]));
  const j = await sh('npx', ['--no', '--', 'splitee', 'predict', '--model', 'fmnist-cnn', 'photo.jpg'], app);
  assert.is(j.code, 1);
  assert.match(j.stderr, /optional peer dependency 'jpeg-js': run `npm install jpeg-js`/);
  const g = await sh('npx', ['--no', '--', 'splitee', 'eval', '--model', 'fmnist-cnn', '--dataset', 'fmnist:test', '--backend', 'webgpu'], app);
  assert.is(g.code, 1);
  assert.match(g.stderr, /optional peer dependency 'webgpu'.*npm install webgpu/);
});

/** The README's API example, verbatim (the first ```ts block after "## API"). */
function readmeExample(): string {
  const readme = readFileSync(join(packageRoot, 'README.md'), 'utf8');
  const api = readme.slice(readme.indexOf('\n## API'));
  const m = api.match(/```ts\n([\s\S]*?)```/);
  assert.ok(m, 'README has an API example');
  return m![1];
}

test('a TypeScript ESM consumer compiles (skipLibCheck off): the README example, Node-only exports, and a browser build', async () => {
  const tsc = join(packageRoot, 'node_modules', 'typescript', 'bin', 'tsc');
  // A Node user has @types/node; nobody is assumed to have @webgpu/types.
  mkdirSync(join(app, 'node_modules', '@types'), { recursive: true });
  if (!existsSync(join(app, 'node_modules', '@types', 'node'))) symlinkSync(join(packageRoot, 'node_modules', '@types', 'node'), join(app, 'node_modules', '@types', 'node'));
  writeFileSync(join(app, 'readme.ts'), readmeExample());
  writeFileSync(join(app, 'node-only.ts'), [
    "import { createCloudServer, zooModels, ModelNotFoundError, WebGpuPackageMissingError, readDemoSamples, openStream, predict, loadModel, type Prediction } from 'splitee';",
    "const names: string[] = zooModels();",
    "const err: ModelNotFoundError = new ModelNotFoundError('x');",
    "const code: string = new WebGpuPackageMissingError().code;",
    "const stream = await readDemoSamples('fmnist-cnn', { limit: 3 });",
    "const full = await openStream('sst2:dev', { samples: 'auto' });",
    "const m = await loadModel('fmnist-cnn');",
    "const server = await createCloudServer({ model: (await import('splitee')).cloudModelFrom(m), port: 0 });",
    "const best: Prediction[] = await predict(m, stream.samples[0].input as Float32Array);",
    "console.log(names, err.code, code, full.source, best[0].label, best[0].score, best[0].exit, server.url);",
    'export {};',
  ].join('\n'));
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: false, types: ['node'] },
    files: ['readme.ts', 'node-only.ts'],
  }));
  const node = await sh(process.execPath, [tsc, '-p', 'tsconfig.json'], app);
  assert.is(node.code, 0, `Node consumer:\n${node.stdout}${node.stderr}`);
  // The example has no type annotations, so it also runs as it is (with a shirt.png beside it).
  writeFileSync(join(app, 'readme.mjs'), readmeExample());
  writeFileSync(join(app, 'shirt.png'), simplePng(3, 3, 3, Uint8Array.from({ length: 27 }, (_, i) => (i * 37) % 256)));
  const ran = await sh(process.execPath, ['readme.mjs'], app);
  assert.is(ran.code, 0, `README example:\n${ran.stderr}`);
  assert.match(ran.stdout, /^\S.* 7 0\.\d+ \[ 64, 7, 7 \]\n$/, `README example printed ${JSON.stringify(ran.stdout)}`);

  // A browser app resolves the default condition: the core's declarations, without Node's.
  const web = join(app, 'web');
  mkdirSync(web, { recursive: true });
  writeFileSync(join(web, 'main.ts'), [
    "import { loadModel, predict, demoSamples, demoSampleUrl, createInputEncoder } from 'splitee';",
    "import * as core from 'splitee/core';",
    "// @ts-expect-error the cloud server is Node-only and not in the browser entry",
    "import { createCloudServer } from 'splitee';",
    "const bytes = new Uint8Array(await (await fetch(demoSampleUrl('fmnist-cnn'))).arrayBuffer());",
    "const s = await demoSamples('fmnist-cnn', bytes, { limit: 1 });",
    "const m = await loadModel(new URL('/fmnist-cnn.spx', location.href));",
    "const x = createInputEncoder(m.header)(s.samples[0].input);",
    "console.log((await predict(m, s.samples[0].input))[0].label, x, core.SampleError, createCloudServer);",
  ].join('\n'));
  writeFileSync(join(web, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { module: 'ESNext', moduleResolution: 'Bundler', target: 'ES2022', lib: ['ES2022', 'DOM'], strict: true, noEmit: true, skipLibCheck: false, types: [] },
    files: ['main.ts'],
  }));
  const browser = await sh(process.execPath, [tsc, '-p', 'tsconfig.json'], web);
  assert.is(browser.code, 0, `browser consumer:\n${browser.stdout}${browser.stderr}`);
});

test('npm test checks its prerequisites first and stops with the command that installs what is missing', async () => {
  assert.match(pkg.scripts.test, /^node scripts\/check-test-prereqs\.mjs && /);
  const script = join(packageRoot, 'scripts', 'check-test-prereqs.mjs');
  const ok = await sh(process.execPath, [script], packageRoot, { ...process.env });
  assert.is(ok.code, 0, `this machine has every prerequisite: ${ok.stderr}`);
  const noChromium = await sh(process.execPath, [script], packageRoot, { ...process.env, SPLITEE_CHROMIUM: join(work, 'no-chromium'), SPLITEE_SWIFTSHADER_ICD: join(work, 'no-icd.json') });
  assert.is(noChromium.code, 1);
  assert.match(noChromium.stderr, /nothing was run/);
  assert.match(noChromium.stderr, /Chromium for the browser tests \(no executable at .*no-chromium\)\n\s+apt-get install chromium/);
  assert.match(noChromium.stderr, /SwiftShader.*\n\s+apt-get install chromium/);
  // A fresh clone: the script and package.json alone, no node_modules, no datasets beside it.
  const clone = join(work, 'clone', 'splitee');
  mkdirSync(join(clone, 'scripts'), { recursive: true });
  cpSync(script, join(clone, 'scripts', 'check-test-prereqs.mjs'));
  cpSync(join(packageRoot, 'package.json'), join(clone, 'package.json'));
  const fresh = await sh(process.execPath, [join(clone, 'scripts', 'check-test-prereqs.mjs')], clone, userEnv({ SPLITEE_CHROMIUM: join(work, 'no-chromium'), SPLITEE_SWIFTSHADER_ICD: join(work, 'no-icd.json') }));
  assert.is(fresh.code, 1);
  assert.match(fresh.stderr, /the dev dependencies .*\n\s+npm install/);
  assert.match(fresh.stderr, /the fashion-mnist dataset/);
  assert.match(fresh.stderr, /apt-get update && apt-get install -y chromium dataset-fashion-mnist/);
});

test('clean up', () => {
  rmSync(work, { recursive: true, force: true });
  assert.ok(!existsSync(work));
});

test.run();
