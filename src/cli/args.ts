// A small, strict argument parser shared by every subcommand: `--name value`, `--name=value`, `--flag`, and the
// short `-h`. Unknown options (long or short) are errors with a "did you mean" (a typo should never silently fall
// back to a default); `--limit 0` means "all samples" in every command.

export class UsageError extends Error {
  readonly code = 'USAGE';
  constructor(message: string) { super(message); this.name = 'UsageError'; }
}

export interface OptionSpec {
  /** 'string' takes a value, 'boolean' is a flag. */
  type: 'string' | 'boolean';
  default?: string | boolean;
  /** One line for the help text. */
  help: string;
}

export type Parsed = { options: Record<string, string | boolean | undefined>; positionals: string[] };

export interface ParseOptions {
  /** Names of the positional arguments the command takes, in order; more is an error. Omitted: any number. */
  positionals?: string[];
}

/** Edit distance (insert, delete, substitute, swap of neighbours), for "did you mean". */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const sub = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + sub);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The closest of `candidates` to `word` when it is a plausible typo (or a prefix of exactly one), else undefined. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined, bestD = Infinity;
  for (const c of candidates) {
    const dist = editDistance(word.toLowerCase(), c.toLowerCase());
    if (dist < bestD) { best = c; bestD = dist; }
  }
  if (best !== undefined && bestD <= Math.max(1, Math.floor(Math.min(word.length, best.length) / 3))) return best;
  const prefixed = candidates.filter((c) => word.length >= 2 && c.startsWith(word));
  return prefixed.length === 1 ? prefixed[0] : undefined;
}

function unknownOption(flag: string, spec: Record<string, OptionSpec>): UsageError {
  const name = flag.replace(/^-+/, '').split('=')[0];
  const guess = closest(name, Object.keys(spec));
  return new UsageError(`unknown option ${flag.split('=')[0]}${guess ? ` (did you mean --${guess}?)` : ''}`);
}

/** A negative number given where a value or positional is expected (`--seed -3`), not an option. */
const NUMBER = /^-\d+(\.\d+)?([eE][-+]?\d+)?$/;

export function parseArgs(argv: string[], spec: Record<string, OptionSpec>, opts: ParseOptions = {}): Parsed {
  const options: Record<string, string | boolean | undefined> = {};
  for (const [k, s] of Object.entries(spec)) options[k] = s.default;
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') { positionals.push(...argv.slice(i + 1)); break; }
    if (a === '-h' && spec.help) { options.help = true; continue; }
    if (a.startsWith('-') && !a.startsWith('--') && a !== '-' && !NUMBER.test(a)) throw unknownOption(a, spec);
    if (!a.startsWith('--')) { positionals.push(a); continue; }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    const s = Object.prototype.hasOwnProperty.call(spec, name) ? spec[name] : undefined;
    if (!s) throw unknownOption(a, spec);
    if (s.type === 'boolean') {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      options[name] = true;
    } else {
      const v = eq >= 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined) throw new UsageError(`--${name} needs a value`);
      if (eq < 0 && v.startsWith('--') && v !== '--') throw new UsageError(`--${name} needs a value (got the option ${v})`);
      options[name] = v;
    }
  }
  if (opts.positionals && !options.help && positionals.length > opts.positionals.length) {
    const extra = positionals[opts.positionals.length];
    const guess = closest(extra, Object.keys(spec));
    throw new UsageError((opts.positionals.length === 0
      ? `unexpected argument '${extra}' (this command takes only options)`
      : `unexpected argument '${extra}' (this command takes ${opts.positionals.map((p) => `<${p}>`).join(' ')})`)
      + (guess ? `; did you mean --${guess}?` : ''));
  }
  return { options, positionals };
}

export function numberOption(p: Parsed, name: string, opts: { min?: number; max?: number; integer?: boolean } = {}): number | undefined {
  const v = p.options[name];
  if (v === undefined || v === false) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got '${v}'`);
  if (opts.integer && !Number.isInteger(n)) throw new UsageError(`--${name} must be an integer, got '${v}'`);
  // `--limit 0` is "no limit" in every command (LIMIT_HELP), whatever minimum the caller asked for.
  if (name === 'limit' && n === 0) return undefined;
  if (opts.min !== undefined && n < opts.min) throw new UsageError(`--${name} must be ≥ ${opts.min}, got ${n}`);
  if (opts.max !== undefined && n > opts.max) throw new UsageError(`--${name} must be ≤ ${opts.max}, got ${n}`);
  return n;
}

/** The one meaning of --limit, in every command's help. */
export const LIMIT_HELP = 'only the first N samples of the stream (0: all of them)';

/** --limit N: a positive count, or undefined for the whole stream (`--limit 0`, or no --limit and no default). */
export function limitOption(p: Parsed): number | undefined {
  return numberOption(p, 'limit', { min: 1, integer: true });
}

export function helpText(usage: string, spec: Record<string, OptionSpec>): string {
  const lines = [usage, ''];
  for (const [k, s] of Object.entries(spec)) {
    const flag = k === 'help' ? '-h, --help' : s.type === 'boolean' ? `--${k}` : `--${k} <v>`;
    const def = s.default !== undefined && s.default !== false ? ` (default ${s.default})` : '';
    lines.push(`  ${flag.padEnd(22)} ${s.help}${def}`);
  }
  return lines.join('\n');
}

/** Every subcommand module (src/cli/<name>.ts) exports one of these as `command`. */
export interface Command {
  summary: string;
  run(argv: string[]): Promise<number>;
}
