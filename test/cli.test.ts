// The `splitee` command as a user runs it (a child process): info, eval, demo, the conventions every command shares
// (help, version, unknown options and arguments, exit codes 0/1/2, --limit) and the errors people hit first.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { packageRoot } from '../src/node.js';

const run = promisify(execFile);
const bin = join(packageRoot, 'bin', 'splitee.js');

async function splitee(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, maxBuffer: 64 << 20, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

test('info --json describes the zoo model and its split points', async () => {
  const r = await splitee(['info', 'fmnist-cnn', '--json']);
  assert.is(r.code, 0, r.stderr);
  const info = JSON.parse(r.stdout);
  assert.is(info.name, 'fmnist-cnn');
  assert.is(info.numLayers, info.layers.length);
  assert.match(info.digest, /^[0-9a-f]{64}$/);
  for (const l of info.layers) assert.is(l.f32Bytes, 4 * l.int8Bytes);
  assert.equal(info.layers[0].outputShape.length, 3);
});

test('info shows each attention layer\'s window (read from the file, so it fails if the header loses it)', async () => {
  const r = await splitee(['info', 'sst2-transformer', '--json']);
  assert.is(r.code, 0, r.stderr);
  const info = JSON.parse(r.stdout);
  const attention = info.layers.map((l: { ops: string }) => l.ops.split(' ').find((o: string) => o.startsWith('attention')));
  assert.equal(attention, ['attention(w2)', 'attention(w4)', 'attention(w8)', 'attention(w16)', 'attention', 'attention']);
});

test('eval --json reports every exit with the documented keys', async () => {
  const r = await splitee(['eval', '--model', 'fmnist-cnn', '--dataset', 'fmnist:test', '--limit', '300', '--json']);
  assert.is(r.code, 0, r.stderr);
  const e = JSON.parse(r.stdout);
  assert.equal(Object.keys(e), ['model', 'dataset', 'n', 'exits']);
  assert.is(e.n, 300);
  assert.is(e.exits.length, 7);
  for (const x of e.exits) {
    assert.equal(Object.keys(x), ['layer', 'accuracy', 'meanConfidence']);
    assert.ok(x.accuracy > 0.3 && x.accuracy <= 1 && x.meanConfidence > 0 && x.meanConfidence <= 1);
  }
  assert.ok(e.exits[6].accuracy > e.exits[0].accuracy, 'the last exit beats the first');
});

test('demo --json streams through SplitEE with a loopback cloud and writes the report', async () => {
  const out = mkdtempSync(join(tmpdir(), 'splitee-demo-'));
  const r = await splitee(['demo', '--limit', '300', '--json', '--out', out]);
  assert.is(r.code, 0, r.stderr);
  const d = JSON.parse(r.stdout);
  assert.equal(Object.keys(d), ['model', 'dataset', 'source', 'n', 'accuracy', 'cost', 'costReduction', 'accuracyDrop', 'offloadRate', 'bytesSent', 'report']);
  assert.is(d.model, 'fmnist-cnn');
  assert.is(d.dataset, 'fmnist:test');
  assert.is(d.source, 'full'); // the datasets are installed on this machine
  assert.is(d.n, 300);
  // With λ = 1/L the final layer costs 1 per sample, so cost reduction is 1 − cost.
  assert.ok(Math.abs(d.costReduction - (1 - d.cost)) < 1e-9, `costReduction ${d.costReduction} vs cost ${d.cost}`);
  assert.ok(d.offloadRate > 0 && d.bytesSent > 0, 'some samples were offloaded over HTTP');
  assert.ok(existsSync(d.report));
  const html = readFileSync(d.report, 'utf8');
  assert.match(html, /<svg/);
  assert.match(html, /early-exit/);
  assert.not.match(html, /<script/);
});

test('unknown model, unknown stream, missing data: clear errors, non-zero exit', async () => {
  const m = await splitee(['eval', '--model', 'no-such-model', '--dataset', 'fmnist:test']);
  assert.is.not(m.code, 0);
  assert.match(m.stderr, /no-such-model/);
  assert.match(m.stderr, /fmnist-cnn/); // names what the zoo has
  const s = await splitee(['eval', '--model', 'fmnist-cnn', '--dataset', 'mnist:test']);
  assert.is.not(s.code, 0);
  assert.match(s.stderr, /fmnist:test:noise/); // lists valid streams
  const empty = mkdtempSync(join(tmpdir(), 'splitee-nodata-'));
  const d = await splitee(['eval', '--model', 'fmnist-cnn', '--dataset', 'fmnist:test', '--data-dir', empty]);
  assert.is.not(d.code, 0);
  assert.match(d.stderr, new RegExp(empty.replace(/[/\\]/g, '.')));
  const u = await splitee(['eval', '--model', 'fmnist-cnn', '--datset', 'fmnist:test']);
  assert.is(u.code, 2);
  assert.match(u.stderr, /unknown option --datset \(did you mean --dataset\?\)/);
});

// ---------------------------------------------------------------- conventions every command shares

const pkgVersion = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')).version as string;

async function availableCommands(): Promise<string[]> {
  const r = await splitee(['--help']);
  assert.is(r.code, 0, r.stderr);
  const names = [...r.stdout.matchAll(/^  ([a-z]+) +(.*)$/gm)].filter((m) => !m[2].includes('not available')).map((m) => m[1]);
  for (const core of ['demo', 'predict', 'info', 'eval', 'matrix', 'simulate', 'serve', 'run']) assert.ok(names.includes(core), `${core} is listed and available`);
  return names;
}

test('-h and --help work for every command, print its usage, exit 0 and never run it', async () => {
  const out = mkdtempSync(join(tmpdir(), 'splitee-help-'));
  for (const name of await availableCommands()) {
    for (const flag of name === 'demo' || name === 'serve' ? ['-h', '--help'] : [name.length % 2 ? '-h' : '--help']) {
      // Arguments that would make the command do work (or be usage errors) are ignored when help is asked for.
      const r = await splitee([name, '--limit', '5', '--out', join(out, `${name}.csv`), '--no-such-flag', flag]);
      assert.is(r.code, 0, `${name} ${flag}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`usage: splitee ${name}\\b`), `${name} ${flag}`);
      assert.match(r.stdout, /-h, --help/);
    }
  }
  assert.equal(readdirSync(out), [], 'no command wrote anything');
  const both = await splitee(['help', 'demo']);
  const direct = await splitee(['demo', '--help']);
  assert.is(both.code, 0);
  assert.is(both.stdout, direct.stdout, '`help demo` is `demo --help`');
  const general = await splitee(['help']);
  assert.is(general.code, 0);
  assert.match(general.stdout, /usage: splitee <command>/);
  const unknown = await splitee(['help', 'dmeo']);
  assert.is(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command 'dmeo' \(did you mean 'demo'\?\)/);
});

test('--version prints the package version; no command is a usage error (exit 2, usage on stderr)', async () => {
  const v = await splitee(['--version']);
  assert.is(v.code, 0);
  assert.is(v.stdout.trim(), pkgVersion);
  assert.match(pkgVersion, /^\d+\.\d+\.\d+/);
  const none = await splitee([]);
  assert.is(none.code, 2);
  assert.is(none.stdout, '');
  assert.match(none.stderr, /usage: splitee <command>/);
  const cmd = await splitee(['evl', '--model', 'fmnist-cnn']);
  assert.is(cmd.code, 2);
  assert.match(cmd.stderr, /unknown command 'evl' \(did you mean 'eval'\?\)/);
  const flag = await splitee(['--verbose']);
  assert.is(flag.code, 2);
});

test('unknown options (long and single-dash) and extra arguments are usage errors with a hint', async () => {
  const cases: [string[], RegExp][] = [
    [['demo', '--limt', '5'], /unknown option --limt \(did you mean --limit\?\)/],
    [['demo', '-x'], /unknown option -x/],
    [['demo', '-limit', '5'], /unknown option -limit \(did you mean --limit\?\)/],
    [['demo', 'fmnist-cnn'], /unexpected argument 'fmnist-cnn'/],
    [['eval', '--model', 'fmnist-cnn', '--dataset', 'fmnist:test', 'extra'], /unexpected argument 'extra'/],
    [['info', 'fmnist-cnn', 'sst2-transformer'], /unexpected argument 'sst2-transformer'/],
    [['eval', '--model', 'fmnist-cnn', '--dataset', 'fmnist:test', 'json'], /unexpected argument 'json' \(this command takes only options\); did you mean --json\?/],
    [['info', 'fmnist-cnn', '--jsn'], /did you mean --json\?/],
    [['eval', '--model'], /--model needs a value/],
    [['eval', '--json=yes', '--model', 'fmnist-cnn', '--dataset', 'fmnist:test'], /--json takes no value/],
  ];
  for (const [args, re] of cases) {
    const r = await splitee(args);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
    assert.is(r.stdout, '', `${args.join(' ')} ran nothing`);
  }
});

test('unknown model names say so and list the zoo (exit 2), in every command that takes one', async () => {
  for (const args of [['demo', '--model', 'resnet'], ['eval', '--model', 'resnet', '--dataset', 'fmnist:test'], ['info', 'resnet'],
    ['predict', '--model', 'resnet', 'a cat']]) {
    const r = await splitee(args);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /no model file 'resnet' and no zoo model of that name \(zoo: fmnist-cnn, sst2-transformer/);
    assert.not.match(r.stderr, /--dataset is required/);
  }
});

test('--limit N is the first N samples and 0 is all of them, the same in every command; bad values are usage errors', async () => {
  const e = await splitee(['eval', '--model', 'sst2-transformer', '--dataset', 'sst2:dev', '--limit', '0', '--json']);
  assert.is(e.code, 0, e.stderr);
  assert.is(JSON.parse(e.stdout).n, 872);
  const e7 = await splitee(['eval', '--model', 'sst2-transformer', '--dataset', 'sst2:dev', '--limit', '7', '--json']);
  assert.is(JSON.parse(e7.stdout).n, 7);
  // (demo --limit 0: the whole shipped sample, in the sample test below)
  const out = mkdtempSync(join(tmpdir(), 'splitee-limit-'));
  for (const cmd of [['eval', '--model', 'fmnist-cnn', '--dataset', 'fmnist:test'], ['demo'], ['matrix', '--model', 'fmnist-cnn', '--dataset', 'fmnist:test', '--out', join(out, 'm.csv')]]) {
    for (const bad of ['-1', '1.5', 'ten']) {
      const r = await splitee([...cmd, '--limit', bad]);
      assert.is(r.code, 2, `${cmd[0]} --limit ${bad}: ${r.stderr}`);
      assert.match(r.stderr, /--limit must be/);
    }
    const help = await splitee([cmd[0], '--help']);
    assert.match(help.stdout, /--limit <v> +only the first N samples of the stream \(0: all of them\)/, `${cmd[0]} documents --limit 0`);
  }
});

test('exit codes: 0 success, 1 runtime failure, 2 usage', async () => {
  assert.is((await splitee(['info', 'fmnist-cnn'])).code, 0);
  const empty = mkdtempSync(join(tmpdir(), 'splitee-nodata-'));
  const missing = await splitee(['eval', '--model', 'fmnist-cnn', '--dataset', 'fmnist:test', '--data-dir', empty]);
  assert.is(missing.code, 1, 'missing data is a runtime failure');
  assert.match(missing.stderr, /DatasetNotFoundError/);
  assert.is((await splitee(['eval', '--model', 'fmnist-cnn'])).code, 2, '--dataset is required');
  assert.is((await splitee(['eval', '--model', 'fmnist-cnn', '--dataset', 'mnist'])).code, 2, 'unknown stream');
  assert.is((await splitee(['eval', '--model', 'fmnist-cnn', '--dataset', 'fmnist:test', '--backend', 'cuda'])).code, 2);
});

test('demo uses the sample shipped in the package when asked (or when no dataset is found) and says so', async () => {
  const out = mkdtempSync(join(tmpdir(), 'splitee-demo-'));
  const r = await splitee(['demo', '--sample', '--limit', '0', '--out', out]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /on fmnist:test, 1000 samples/);
  assert.match(r.stdout, /data: the sample shipped in the package \(1,000 samples of fmnist:test/);
  const j = await splitee(['demo', '--sample', '--limit', '50', '--json', '--out', out]);
  const d = JSON.parse(j.stdout);
  assert.is(d.source, 'sample');
  assert.is(d.n, 50);
  assert.match(readFileSync(d.report, 'utf8'), /sample shipped in the package/);
});

test('a registered command missing from the build: help still lists every command; running it is a clear error', async () => {
  // A copy of the built package without one command's module.
  const copy = mkdtempSync(join(tmpdir(), 'splitee-partial-'));
  for (const part of ['bin', 'dist/src', 'package.json', 'models']) cpSync(join(packageRoot, part), join(copy, part), { recursive: true });
  rmSync(join(copy, 'dist', 'src', 'cli', 'export.js'));
  const cli = join(copy, 'bin', 'splitee.js');
  const exec = async (args: string[]) => {
    try { const r = await run(process.execPath, [cli, ...args], { timeout: 60_000 }); return { code: 0, ...r }; } catch (e) {
      const err = e as { code: number; stdout: string; stderr: string };
      return { code: err.code, stdout: err.stdout, stderr: err.stderr };
    }
  };
  const help = await exec(['--help']);
  assert.is(help.code, 0, help.stderr);
  assert.match(help.stdout, /\n  export +\(not available in this build\)/);
  assert.match(help.stdout, /\n  demo +the embedded default/);
  const r = await exec(['export', '--model', 'fmnist-cnn']);
  assert.is(r.code, 1);
  assert.match(r.stderr, /'export' is not available in this build of splitee/);
  const h = await exec(['help', 'export']);
  assert.is(h.code, 1);
  assert.ok((await exec(['info', 'fmnist-cnn'])).code === 0, 'the other commands still work');
  rmSync(copy, { recursive: true, force: true });
});

test.run();
