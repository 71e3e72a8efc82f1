#!/usr/bin/env node
// Thin launcher: the CLI lives in dist/src/cli.js (built by `npm run build`, which `npm install` runs from the `dependencies` script).
import('../dist/src/cli.js')
  .then((m) => m.main(process.argv.slice(2)))
  .then((code) => { process.exitCode = code; })
  .catch((err) => {
    if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/src/cli.js')) {
      console.error('splitee: the package is not built yet; run `npm run build` in its folder.');
    } else {
      console.error(`splitee: ${err && err.message ? err.message : err}`);
    }
    process.exitCode = 1;
  });
