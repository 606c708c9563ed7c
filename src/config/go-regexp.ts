/**
 * blackbox_exporter's regexes are Go RE2. Most of them mean the same in JavaScript; the common
 * exception is a leading flag group such as `(?i)`, which JavaScript spells as a flag.
 */
const LEADING_FLAGS = /^\(\?([ims]+)\)/;

/**
 * Patterns come from the config and are checked on every probe; compile each once. The
 * expressions have no `g` flag, so `test()` keeps no state between probes.
 */
const compiled = new Map<string, RegExp>();

export function compileGoRegexp(pattern: string): RegExp {
  let regexp = compiled.get(pattern);
  if (!regexp) {
    regexp = translate(pattern);
    compiled.set(pattern, regexp);
  }
  return regexp;
}

function translate(pattern: string): RegExp {
  const flags = LEADING_FLAGS.exec(pattern);
  if (!flags) return new RegExp(pattern);
  // RE2's `s` and `m` map one to one; `i` too. Anything else is left for RegExp to refuse.
  return new RegExp(pattern.slice(flags[0].length), [...new Set(flags[1])].join(''));
}

/** The message of a pattern that does not compile, or undefined when it does. */
export function regexpProblem(pattern: string): string | undefined {
  try {
    compileGoRegexp(pattern);
    return undefined;
  } catch (error) {
    // RegExp's message repeats the pattern; keep only its last part, the reason.
    return `invalid regular expression ${JSON.stringify(pattern)}: ${(error as Error).message.split(': ').pop()}`;
  }
}
