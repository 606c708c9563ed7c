/**
 * Regexes from the config are RE2, the syntax blackbox_exporter users write (Go's regexp package
 * is RE2): flag groups such as `(?i)` work as they do there, and matching takes time linear in the
 * input, so a pattern such as `(a+)+$` cannot hang a probe on a hostile body. re2js is RE2 in
 * JavaScript; a pattern RE2 refuses (lookaround, backreferences) is a config error.
 */
import type { RE2JS } from 're2js';

/**
 * re2js, loaded with the first pattern: it builds its Unicode tables as it loads (0.5 MiB of
 * heap), which a checkpoint whose config has no regex never needs.
 */
let re2js: typeof import('re2js') | undefined;
function library(): typeof import('re2js') {
  // A require here, not an import at the top: that would load it with the config loader.
  re2js ??= require('re2js') as typeof import('re2js');
  return re2js;
}

/** Patterns come from the config and are matched on every probe; compile each once. */
const compiled = new Map<string, RE2JS>();

function compile(pattern: string): RE2JS {
  let regexp = compiled.get(pattern);
  if (!regexp) {
    regexp = library().RE2JS.compile(pattern);
    compiled.set(pattern, regexp);
  }
  return regexp;
}

/** Whether `pattern` matches anywhere in `input`; bytes are read as UTF-8, as Go reads a body. */
export function regexpMatches(pattern: string, input: string | Uint8Array): boolean {
  return compile(pattern).test(input);
}

/** JavaScript or PCRE habits RE2 has no way to match in linear time, named in the message. */
const UNSUPPORTED = /\(\?<?[=!]|\\[1-9]/;

/** The message of a pattern RE2 refuses, in Go's words, or undefined when it compiles. */
export function regexpProblem(pattern: string): string | undefined {
  try {
    compile(pattern);
    return undefined;
  } catch (error) {
    if (!(error instanceof library().RE2JSException)) throw error;
    const reason = error.message.replace(/^error parsing regexp: /, '');
    const hint = UNSUPPORTED.test(pattern) ? ' (RE2 syntax, as blackbox_exporter: no lookaround or backreferences)' : '';
    return `invalid regular expression ${JSON.stringify(pattern)}: ${reason}${hint}`;
  }
}
