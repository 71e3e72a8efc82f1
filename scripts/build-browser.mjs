// Builds dist/splitee.browser.js: the core (dist/src/index.js, from src/index.ts) as one minified ES module with the WASM kernels inlined
// (they are already embedded as base64 in src/wasm/binary.generated.ts), for a <script type="module"> or a CDN URL.
// Also writes dist/splitee.wasm, the same kernels as a file, for runtimes that only take precompiled modules
// (Cloudflare's workerd imports it as a WebAssembly.Module).
import { build } from 'esbuild';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

const root = new URL('../', import.meta.url);
const out = new URL('dist/splitee.browser.js', root);
const { version } = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));

await build({
  // The tsc output, so the bundle is exactly the code the tests run (npm run build:ts comes first).
  entryPoints: [new URL('dist/src/index.js', root).pathname],
  outfile: out.pathname,
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  target: ['es2022'],
  minify: true,
  legalComments: 'none',
  // The engine falls back to node:crypto only where globalThis.crypto.subtle is missing (old Node); every browser,
  // Deno, Bun and workerd has it, so the dynamic import stays unresolved and never runs there.
  external: ['node:*'],
  banner: { js: `/* splitee ${version} (MIT), one-file ES module build with the WASM kernels inlined */` },
  logLevel: 'warning',
});

const b64 = /wasmBase64(?:: string)? = "([^"]+)"/.exec(readFileSync(new URL('src/wasm/binary.generated.ts', root), 'utf8'));
if (!b64) throw new Error('src/wasm/binary.generated.ts holds no wasmBase64: run npm run build:wasm first');
mkdirSync(new URL('dist/', root), { recursive: true });
writeFileSync(new URL('dist/splitee.wasm', root), Buffer.from(b64[1], 'base64'));

const size = statSync(out).size;
const gz = gzipSync(readFileSync(out), { level: 9 }).length;
console.log(`dist/splitee.browser.js: ${(size / 1024).toFixed(1)} KiB, ${(gz / 1024).toFixed(1)} KiB gzipped`);
