/**
 * Shell globs on file names (`*.sql.gz`, `backup-202?-*.tar`), what operators write in `ls`. Same
 * rules as the shell: `*` any run of characters, `?` one character, `[abc]`, `[a-z]`, `[!abc]` or
 * `[^abc]` one of a set, `\` quotes the next character, and a name starting with a dot matches
 * only a pattern that starts with a literal dot (so `*` does not pick up `.checkpoint-probe-*`).
 */

/** Patterns come from the config and are matched on every probe; translate each once. */
const compiled = new Map<string, RegExp>();

export function compileGlob(pattern: string): RegExp {
  let regexp = compiled.get(pattern);
  if (!regexp) {
    regexp = translate(pattern);
    compiled.set(pattern, regexp);
  }
  return regexp;
}

export function globMatches(pattern: string, name: string): boolean {
  if (name.startsWith('.') && !pattern.startsWith('.')) return false;
  return compileGlob(pattern).test(name);
}

/** Why `pattern` is not a usable glob, or undefined when it is. */
export function globProblem(pattern: string): string | undefined {
  if (pattern.includes('/')) return `glob ${JSON.stringify(pattern)} matches file names only: put the path in directory`;
  try {
    compileGlob(pattern);
    return undefined;
  } catch (error) {
    // RegExp's own message (a range out of order) repeats the translated pattern; keep only the reason.
    return `invalid glob ${JSON.stringify(pattern)}: ${(error as Error).message.split(': ').pop()}`;
  }
}

function translate(pattern: string): RegExp {
  let source = '';
  for (let index = 0; index < pattern.length; index++) {
    const char = pattern.charAt(index);
    if (char === '*') source += '.*';
    else if (char === '?') source += '.';
    else if (char === '\\') {
      const quoted = pattern[++index];
      if (quoted === undefined) throw new Error('ends with a lone \\');
      source += escape(quoted);
    } else if (char === '[') {
      const end = classEnd(pattern, index);
      if (end === -1) throw new Error('[ without its closing ]');
      source += characterClass(pattern.slice(index + 1, end));
      index = end;
    } else source += escape(char);
  }
  return new RegExp(`^${source}$`, 's');
}

/** Where the class opened at `open` closes; a `]` right after `[`, `[!` or `[^` is a member, as in the shell. */
function classEnd(pattern: string, open: number): number {
  let index = open + 1;
  if (pattern[index] === '!' || pattern[index] === '^') index++;
  if (pattern[index] === ']') index++;
  for (; index < pattern.length; index++) {
    if (pattern[index] === '\\') index++;
    else if (pattern[index] === ']') return index;
  }
  return -1;
}

function characterClass(body: string): string {
  const negated = body.startsWith('!') || body.startsWith('^');
  const members = (negated ? body.slice(1) : body).replace(/\\(.)/g, '$1');
  // Inside a JavaScript class only \, ] and ^ need quoting; `-` keeps its range meaning.
  const quoted = members.replace(/[\\\]^]/g, (special) => `\\${special}`);
  return `[${negated ? '^' : ''}${quoted}]`;
}

function escape(char: string): string {
  return char.replace(/[.*+?^${}()|[\]\\/]/g, (special) => `\\${special}`);
}
