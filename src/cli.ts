// `splitee` command line. Each subcommand lives in src/cli/<name>.ts and exports `command: Command`;
// they are imported lazily so `splitee simulate` never pays for loading WebGPU or the server.
import { UsageError, type Command } from './cli/args.js';

const COMMANDS: Record<string, () => Promise<{ command: Command }>> = {
  demo: () => import('./cli/demo.js'),
  info: () => import('./cli/info.js'),
  eval: () => import('./cli/eval.js'),
  matrix: () => import('./cli/matrix.js'),
  simulate: () => import('./cli/simulate.js'),
  serve: () => import('./cli/serve.js'),
  run: () => import('./cli/run.js'),
};

async function usage(): Promise<string> {
  const lines = ['usage: splitee <command> [options]   (splitee <command> --help for its options)', ''];
  for (const [name, load] of Object.entries(COMMANDS)) {
    let summary = '';
    try { summary = (await load()).command.summary; } catch { summary = '(not available in this build)'; }
    lines.push(`  ${name.padEnd(10)} ${summary}`);
  }
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(await usage());
    return name ? 0 : 1;
  }
  const load = COMMANDS[name];
  if (!load) {
    console.error(`splitee: unknown command '${name}'\n\n${await usage()}`);
    return 2;
  }
  try {
    const { command } = await load();
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`splitee ${name}: ${err.message} (see splitee ${name} --help)`);
      return 2;
    }
    const e = err as Error & { code?: string };
    console.error(`splitee ${name}: ${e.name && e.name !== 'Error' ? e.name + ': ' : ''}${e.message}`);
    if (process.env.SPLITEE_DEBUG) console.error(e.stack);
    return 1;
  }
}
