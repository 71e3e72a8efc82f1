#!/usr/bin/env node
// Run first by `npm test`: checks what the test suite needs beyond `npm install`, and stops at once with the one
// command that installs each missing piece (instead of a dozen failing tests). Nothing is skipped or installed here.
//   SPLITEE_CHROMIUM        Chromium binary (default /usr/bin/chromium), as the browser tests use it
//   SPLITEE_SWIFTSHADER_ICD SwiftShader's Vulkan ICD (default: the one Debian's chromium ships)
//   SPLITEE_DATA            the datasets folder, as `splitee` finds it
//   SPLITEE_SKIP_BROWSER=1 / SPLITEE_SKIP_WEBGPU=1   the test files that honour them print that they skipped
import { accessSync, constants, existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const env = process.env;
const missing = [];

function executable(p) {
  try { accessSync(p, constants.X_OK); return true; } catch { return false; }
}
function onPath(cmd) {
  return (env.PATH ?? '').split(':').some((d) => d && executable(join(d, cmd)));
}

// Node itself.
const major = Number(process.versions.node.split('.')[0]);
if (major < 18) missing.push({ what: `Node.js ≥ 18 (this is ${process.version})`, fix: 'install a current Node.js LTS' });

// The dev dependencies (test runner, browser driver, dawn.node…).
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const absent = Object.keys(pkg.devDependencies ?? {}).filter((d) => !existsSync(join(root, 'node_modules', d, 'package.json')));
if (absent.length) missing.push({ what: `the dev dependencies (${absent.slice(0, 4).join(', ')}${absent.length > 4 ? ', …' : ''} not installed)`, fix: 'npm install' });

// Chromium: the browser tests drive it headless; its SwiftShader (Vulkan on the CPU) runs the WebGPU tests.
if (env.SPLITEE_SKIP_BROWSER !== '1') {
  const chromium = env.SPLITEE_CHROMIUM ?? '/usr/bin/chromium';
  if (!executable(chromium)) missing.push({ what: `Chromium for the browser tests (no executable at ${chromium})`, fix: 'apt-get install chromium' });
}
if (env.SPLITEE_SKIP_WEBGPU !== '1') {
  const icds = env.SPLITEE_SWIFTSHADER_ICD !== undefined ? [env.SPLITEE_SWIFTSHADER_ICD]
    : ['/usr/lib/chromium', '/usr/lib64/chromium', '/usr/lib/chromium-browser'].map((d) => join(d, 'vk_swiftshader_icd.json'));
  if (!icds.some((p) => existsSync(p))) {
    missing.push({ what: `SwiftShader, the CPU Vulkan driver the WebGPU tests run on (looked for ${icds.join(', ')})`, fix: 'apt-get install chromium' });
  }
}

// Tools some test files start (each only when a test uses it).
const testSources = existsSync(join(root, 'test')) ? readdirSync(join(root, 'test')).filter((f) => f.endsWith('.ts'))
  .map((f) => readFileSync(join(root, 'test', f), 'utf8')).join('\n') : '';
for (const tool of ['haproxy', 'nginx']) {
  if (new RegExp(`\\b${tool}\\b`).test(testSources) && !onPath(tool)) missing.push({ what: `${tool} (a test starts it)`, fix: `apt-get install ${tool}` });
}
// The tests run the recipes' stdlib-only Python (the .spx writer) against ours; PyTorch is for retraining only.
if (/\/usr\/bin\/python3/.test(testSources)) {
  try { execFileSync('/usr/bin/python3', ['-c', 'import json, struct, zlib'], { stdio: 'ignore' }); } catch {
    missing.push({ what: 'Python 3 at /usr/bin/python3 (the tests check the recipes\' .spx writer against ours)', fix: 'apt-get install python3' });
  }
}

// The datasets the evaluation tests read, found the way `splitee` finds them.
const NEEDED = [
  ['fashion-mnist', ['t10k-images-idx3-ubyte.gz', 't10k-images-idx3-ubyte'], ['t10k-labels-idx1-ubyte.gz', 't10k-labels-idx1-ubyte']],
  ['sst2', ['dev.tsv']],
  ['sentiment-sentences', ['imdb_labelled.txt'], ['yelp_labelled.txt'], ['amazon_cells_labelled.txt']],
];
const places = [env.SPLITEE_DATA, resolve('..', 'shared', 'datasets'), resolve(root, '..', 'shared', 'datasets'), '/usr/share/datasets'].filter(Boolean);
for (const [name, ...files] of NEEDED) {
  const found = places.some((p) => [join(p, name), p].some((dir) => files.every((alts) => alts.some((f) => existsSync(join(dir, f))))));
  if (!found) {
    missing.push({
      what: `the ${name} dataset (looked in ${places.join(', ')})`,
      fix: name === 'fashion-mnist' ? 'apt-get install dataset-fashion-mnist   (or set SPLITEE_DATA to a folder holding fashion-mnist/)'
        : `set SPLITEE_DATA to a folder holding ${name}/ (see README, "Datasets")`,
    });
  }
}

if (missing.length) {
  console.error(`npm test: ${missing.length} prerequisite${missing.length > 1 ? 's are' : ' is'} missing; nothing was run.\n`);
  for (const m of missing) console.error(`  - ${m.what}\n      ${m.fix}`);
  const apt = [...new Set(missing.map((m) => m.fix).filter((f) => f.startsWith('apt-get install')).flatMap((f) => f.split('   ')[0].split(' ').slice(2)))];
  if (apt.length) console.error(`\nAll system packages at once (Debian/Ubuntu, as root): apt-get update && apt-get install -y ${apt.join(' ')}`);
  process.exit(1);
}
console.log('npm test: prerequisites found (Chromium + SwiftShader, dev dependencies, datasets)');
for (const v of ['SPLITEE_SKIP_BROWSER', 'SPLITEE_SKIP_WEBGPU', 'SPLITEE_SKIP_BROWSER_WEBGPU']) {
  if (env[v] === '1') console.log(`npm test: ${v}=1 is set: the tests it covers will not run (they print SKIPPED); CI never sets it`);
}
