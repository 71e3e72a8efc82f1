// `splitee` command line. Each subcommand lives in src/cli/<name>.ts and exports `command: Command`;
// they are imported lazily so `splitee simulate` never pays for loading WebGPU or the server.
// The conventions every command shares are enforced here: `-h/--help` anywhere prints that command's help and runs
// nothing; `help <command>`; `--version`; exit 0 on success, 1 on a runtime failure, 2 on a usage error.
import { readFileSync } from 'node:fs';
import { closest, UsageError, type Command } from './cli/args.js';

const COMMANDS: Record<string, () => Promise<{ command: Command }>> = {
  demo: () => import('./cli/demo.js'),
  predict: () => import('./cli/predict.js'),
  info: () => import('./cli/info.js'),
  eval: () => import('./cli/eval.js'),
  exits: () => import(/* another module may not be built */ './cli/exits.js' as string),
  matrix: () => import('./cli/matrix.js'),
  simulate: () => import('./cli/simulate.js'),
  serve: () => import('./cli/serve.js'),
  run: () => import('./cli/run.js'),
  import: () => import('./cli/import.js' as string),
  export: () => import('./cli/export.js' as string),
};

/** Errors that mean the command line asked for something that does not exist (exit 2, like a usage error). */
const USAGE_CODES = new Set(['USAGE', 'MODEL_NOT_FOUND', 'UNKNOWN_STREAM', 'UNKNOWN_SAMPLE']);

/** A registered command whose module is absent from this build (or fails to load: then the cause is named). */
class CommandUnavailableError extends Error {
  readonly code = 'COMMAND_UNAVAILABLE';
  constructor(readonly command: string, readonly missing: boolean, cause: string) {
    super(missing ? `'${command}' is not available in this build of splitee` : `'${command}' could not be loaded: ${cause}`);
    this.name = 'CommandUnavailableError';
  }
}

async function loadCommand(name: string): Promise<Command> {
  let mod: { command?: Command };
  try { mod = await COMMANDS[name](); } catch (err) {
    const e = err as { code?: string; message?: string };
    const missing = e?.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes(`/cli/${name}.js'`);
    throw new CommandUnavailableError(name, missing, String(e?.message ?? err));
  }
  if (!mod.command || typeof mod.command.run !== 'function') throw new CommandUnavailableError(name, false, 'the module exports no command');
  return mod.command;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function usage(): Promise<string> {
  const lines = ['usage: splitee <command> [options]', '       splitee help <command> | splitee <command> --help | splitee --version', '', 'commands:'];
  for (const name of Object.keys(COMMANDS)) {
    let summary: string;
    try { summary = (await loadCommand(name)).summary; } catch (e) {
      summary = (e as CommandUnavailableError).missing ? '(not available in this build)' : `(failed to load: ${(e as Error).message})`;
    }
    lines.push(`  ${name.padEnd(10)} ${summary}`);
  }
  lines.push('', 'exit status: 0 success, 1 runtime failure, 2 usage error');
  return lines.join('\n');
}

function unknownCommand(name: string): UsageError {
  const guess = closest(name, Object.keys(COMMANDS));
  return new UsageError(`unknown command '${name}'${guess ? ` (did you mean '${guess}'?)` : ''}; see splitee --help`);
}

/** True when argv asks for help before any `--` (which ends the options). */
function wantsHelp(argv: string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).some((a) => a === '-h' || a === '--help');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  let where = 'splitee';
  try {
    if (name === undefined) { console.error(await usage()); return 2; }
    if (name === '--help' || name === '-h') { console.log(await usage()); return 0; }
    if (name === '--version' || name === '-V') { console.log(version()); return 0; }
    if (name === 'help') {
      if (rest.length === 0) { console.log(await usage()); return 0; }
      if (rest.length > 1) throw new UsageError(`help takes one command name, got ${rest.length}`);
      if (!Object.prototype.hasOwnProperty.call(COMMANDS, rest[0])) throw unknownCommand(rest[0]);
      where = `splitee ${rest[0]}`;
      return await (await loadCommand(rest[0])).run(['--help']);
    }
    if (name.startsWith('-')) throw new UsageError(`unknown option ${name} before the command; see splitee --help`);
    if (!Object.prototype.hasOwnProperty.call(COMMANDS, name)) throw unknownCommand(name);
    where = `splitee ${name}`;
    const command = await loadCommand(name);
    // Help never runs the command, whatever else is on the line (even arguments that would be usage errors).
    return await command.run(wantsHelp(rest) ? ['--help'] : rest);
  } catch (err) {
    const e = err as Error & { code?: string };
    if (err instanceof UsageError || USAGE_CODES.has(String(e?.code))) {
      const hint = where === 'splitee' || /splitee --help/.test(e.message) ? '' : ` (see ${where} --help)`;
      console.error(`${where}: ${e.message}${hint}`);
      return 2;
    }
    console.error(`${where}: ${e?.name && e.name !== 'Error' ? e.name + ': ' : ''}${e?.message ?? String(err)}`);
    if (process.env.SPLITEE_DEBUG) console.error(e?.stack);
    return 1;
  }
}
