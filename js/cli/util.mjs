// Output helpers shared by the CLI commands.
import { parseArgs } from 'node:util';
export const out = (s = '') => process.stdout.write(`${s}\n`);
export const err = (s = '') => process.stderr.write(`${s}\n`);
export const fmtMs = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)}s` : `${Math.round(ms)}ms`);
export const fmtBytes = (n) => (n >= 1 << 30 ? `${(n / (1 << 30)).toFixed(2)} GiB` : n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`);

/** Prints a table: a header row, a rule, then the rows, columns padded to fit. */
export function table(head, rows) {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => cells.map((c, i) => String(c).padEnd(w[i])).join('  ').trimEnd();
  out(line(head));
  out(w.map((n) => '─'.repeat(n)).join('  '));
  for (const r of rows) out(line(r));
}

const FLAG_WIDTH = 24;

/**
 * A command's options as one table, from which both the parser (`node:util` parseArgs) and the
 * help text are made: the help cannot miss a flag the parser takes. `options`: `[{ name, short?,
 * type: 'boolean' | 'string', multiple?, arg?: 'NAME', help: string | () => string }]`; `-h, --help`
 * is added. `help(...)` renders `usage`, `description` (a string or a function of the help's
 * argument), the options and `footer`.
 */
export function defineCommand({ usage, description = '', options, positionals = false, footer = '' }) {
  const all = [...options, { name: 'help', short: 'h', type: 'boolean', help: 'Show this help' }];
  const parserOptions = Object.fromEntries(
    all.map((o) => [o.name, { type: o.type ?? 'boolean', ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) }]),
  );
  return {
    options: all,
    /** `{ values, positionals }`; throws on an unknown flag or a missing value. */
    parse(args) {
      return parseArgs({ args, strict: true, allowPositionals: positionals, options: parserOptions });
    },
    /** The help text. */
    help(context) {
      const lines = [usage, ''];
      const desc = typeof description === 'function' ? description(context) : description;
      if (desc) lines.push(desc.trimEnd(), '');
      lines.push('Options:');
      for (const o of all) {
        const flag = `  ${o.short ? `-${o.short}, ` : '    '}--${o.name}${o.arg ? ` ${o.arg}` : ''}`;
        const text = (typeof o.help === 'function' ? o.help(context) : o.help).split('\n');
        if (flag.length + 2 > FLAG_WIDTH) {
          lines.push(flag);
          for (const t of text) lines.push(`${' '.repeat(FLAG_WIDTH)}${t}`);
        } else {
          lines.push(`${flag.padEnd(FLAG_WIDTH)}${text[0]}`);
          for (const t of text.slice(1)) lines.push(`${' '.repeat(FLAG_WIDTH)}${t}`);
        }
      }
      if (footer) lines.push('', footer.trimEnd());
      return `${lines.join('\n')}\n`;
    },
  };
}

/** Wraps `words` (joined by `sep`) into lines of at most `width` characters. */
export function wrap(words, width = 72, sep = ', ') {
  const lines = [];
  let cur = '';
  for (const [i, w] of words.entries()) {
    const piece = i < words.length - 1 ? `${w}${sep.trimEnd()}` : w;
    if (cur && cur.length + 1 + piece.length > width) {
      lines.push(cur);
      cur = piece;
    } else cur = cur ? `${cur} ${piece}` : piece;
  }
  if (cur) lines.push(cur);
  return lines.join('\n');
}
