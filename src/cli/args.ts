// A small, strict argument parser shared by every subcommand: `--name value`, `--name=value`, `--flag`.
// Unknown options are an error (a typo should never silently fall back to a default).

export class UsageError extends Error {
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

export function parseArgs(argv: string[], spec: Record<string, OptionSpec>): Parsed {
  const options: Record<string, string | boolean | undefined> = {};
  for (const [k, s] of Object.entries(spec)) options[k] = s.default;
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') { positionals.push(...argv.slice(i + 1)); break; }
    if (!a.startsWith('--')) { positionals.push(a); continue; }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    const s = spec[name];
    if (!s) throw new UsageError(`unknown option --${name}`);
    if (s.type === 'boolean') {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      options[name] = true;
    } else {
      const v = eq >= 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined) throw new UsageError(`--${name} needs a value`);
      options[name] = v;
    }
  }
  return { options, positionals };
}

export function numberOption(p: Parsed, name: string, opts: { min?: number; max?: number; integer?: boolean } = {}): number | undefined {
  const v = p.options[name];
  if (v === undefined || v === false) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got '${v}'`);
  if (opts.integer && !Number.isInteger(n)) throw new UsageError(`--${name} must be an integer, got '${v}'`);
  if (opts.min !== undefined && n < opts.min) throw new UsageError(`--${name} must be ≥ ${opts.min}, got ${n}`);
  if (opts.max !== undefined && n > opts.max) throw new UsageError(`--${name} must be ≤ ${opts.max}, got ${n}`);
  return n;
}

export function helpText(usage: string, spec: Record<string, OptionSpec>): string {
  const lines = [usage, ''];
  for (const [k, s] of Object.entries(spec)) {
    const flag = s.type === 'boolean' ? `--${k}` : `--${k} <v>`;
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
