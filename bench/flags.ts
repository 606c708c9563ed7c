/** Command-line flags of the bench scripts (`--key=value`), kept free of heavy imports for the health watcher. */

/** `--key=value` split at the first `=`; the value is '' when there is none. */
export function splitFlag(arg: string): { key: string; value: string } {
  const eq = arg.indexOf('=');
  return eq >= 0 ? { key: arg.slice(0, eq), value: arg.slice(eq + 1) } : { key: arg, value: '' };
}

/** A numeric flag value within [min, max], or an error that names the flag. */
export function numberFlag(key: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (value === '' || !Number.isFinite(n) || n < min || n > max) throw new Error(`${key}: expected a number in [${min}, ${max}], got ${value || '(none)'}`);
  return n;
}
