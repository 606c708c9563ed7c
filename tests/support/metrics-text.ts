/**
 * A small, strict parser for the Prometheus text exposition format (0.0.4).
 *
 * Why our own parser: tests compare our exporter's /probe output with
 * blackbox_exporter's series by series, so we need a canonical key per series
 * (labels sorted, values re-escaped) independent of label order and spacing.
 * It is strict on purpose: malformed lines, bad escapes and duplicate series
 * throw, because a scrape Prometheus would reject must fail the test too.
 */

/** Label names and values of one series. */
export type Labels = Record<string, string>;

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;

/** Escapes a label value the way the exposition format requires. */
function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/**
 * The canonical key of a series: `name` without labels, else
 * `name{a="1",b="2"}` with labels sorted by name and values escaped.
 */
export function seriesKey(name: string, labels: Labels = {}): string {
  const names = Object.keys(labels).sort();
  if (names.length === 0) return name;
  return `${name}{${names.map((n) => `${n}="${escapeLabelValue(labels[n] ?? '')}"`).join(',')}}`;
}

/**
 * Parses a sample value. Go writes floats like 3.668918509e+09 and the
 * specials as NaN, +Inf, -Inf; Number() alone would turn "+Inf" into NaN and
 * "" into 0, so the specials and the empty string are handled explicitly.
 */
function parseValue(s: string): number {
  // Prometheus reads values with Go's ParseFloat, which takes NaN in any case (prom-client writes "Nan").
  switch (/^nan$/i.test(s) ? 'NaN' : s) {
    case 'NaN':
      return NaN;
    case '+Inf':
    case 'Inf':
      return Infinity;
    case '-Inf':
      return -Infinity;
    default:
      break;
  }
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s) && !/^0[xX][0-9a-fA-F]+$/.test(s)) {
    throw new Error(`invalid sample value ${JSON.stringify(s)}`);
  }
  return Number(s);
}

/** One parsed sample line. */
export interface Sample {
  name: string;
  labels: Labels;
  value: number;
  /** Milliseconds since the epoch, when the line carries a timestamp. */
  timestamp?: number;
}

/** Parses one sample line (not a comment, not blank). Throws on malformed input. */
function parseSampleLine(line: string): Sample {
  let rest = line.trimStart();
  const nameMatch = METRIC_NAME.exec(rest);
  if (!nameMatch) throw new Error('missing metric name');
  const name = nameMatch[0];
  rest = rest.slice(name.length);
  // "foo1.5" must not parse as foo1 = .5: the name ends at a blank or '{'.
  if (rest.length > 0 && !/^[ \t{]/.test(rest)) throw new Error(`bad character after metric name ${name}`);
  rest = rest.trimStart();

  const labels: Labels = {};
  if (rest.startsWith('{')) {
    rest = rest.slice(1).trimStart();
    while (!rest.startsWith('}')) {
      const ln = LABEL_NAME.exec(rest);
      if (!ln) throw new Error(`bad label name at ${JSON.stringify(rest.slice(0, 20))}`);
      const labelName = ln[0];
      rest = rest.slice(labelName.length).trimStart();
      if (!rest.startsWith('=')) throw new Error(`expected '=' after label ${labelName}`);
      rest = rest.slice(1).trimStart();
      if (!rest.startsWith('"')) throw new Error(`expected '"' to open value of label ${labelName}`);
      // Scan the quoted value, undoing the three escapes the format defines.
      let value = '';
      let i = 1;
      for (;;) {
        if (i >= rest.length) throw new Error(`unterminated value of label ${labelName}`);
        const c = rest[i];
        if (c === '"') break;
        if (c === '\\') {
          const e = rest[i + 1];
          if (e === '\\') value += '\\';
          else if (e === '"') value += '"';
          else if (e === 'n') value += '\n';
          else throw new Error(`invalid escape \\${e ?? ''} in label ${labelName}`);
          i += 2;
        } else {
          value += c;
          i += 1;
        }
      }
      if (Object.prototype.hasOwnProperty.call(labels, labelName)) {
        throw new Error(`duplicate label ${labelName}`);
      }
      labels[labelName] = value;
      rest = rest.slice(i + 1).trimStart();
      if (rest.startsWith(',')) rest = rest.slice(1).trimStart();
      else if (!rest.startsWith('}')) throw new Error(`expected ',' or '}' after label ${labelName}`);
    }
    rest = rest.slice(1);
  }

  const fields = rest.trim().split(/[ \t]+/);
  if (fields.length < 1 || fields[0] === '' || fields.length > 2) {
    throw new Error(`expected "value [timestamp]", got ${JSON.stringify(rest.trim())}`);
  }
  const sample: Sample = { name, labels, value: parseValue(fields[0] as string) };
  if (fields.length === 2) {
    const ts = fields[1] as string;
    if (!/^-?\d+$/.test(ts)) throw new Error(`invalid timestamp ${JSON.stringify(ts)}`);
    sample.timestamp = Number(ts);
  }
  return sample;
}

/** Splits the exposition into sample lines, validating the # HELP / # TYPE lines on the way. */
function* samples(text: string): Generator<Sample> {
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = (lines[n] as string).replace(/\r$/, '');
    if (line.trim() === '') continue;
    try {
      if (line.trimStart().startsWith('#')) {
        const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s+(.*))?$/.exec(line.trim());
        if (m && !METRIC_NAME.test(m[2] as string)) throw new Error(`bad metric name in ${m[1]}`);
        if (m && m[1] === 'TYPE' && !/^(counter|gauge|histogram|summary|untyped)$/.test(m[3] ?? '')) {
          throw new Error(`bad TYPE ${JSON.stringify(m[3])}`);
        }
        // Any other comment is allowed and ignored.
        continue;
      }
      yield parseSampleLine(line);
    } catch (err) {
      throw new Error(`metrics line ${n + 1}: ${(err as Error).message}: ${JSON.stringify(line)}`);
    }
  }
}

/**
 * Parses an exposition into series key → value (see seriesKey for the key form).
 * Throws on malformed lines and on a series that appears twice.
 */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of samples(text)) {
    const key = seriesKey(s.name, s.labels);
    if (out.has(key)) throw new Error(`duplicate series ${key}`);
    out.set(key, s.value);
  }
  return out;
}

/** The metric names that have at least one sample (histograms show as name_bucket, name_sum, ...). */
export function metricNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const s of samples(text)) names.add(s.name);
  return names;
}

/** Metric name → type from the # TYPE lines. */
export function metricTypes(text: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^#\s+TYPE\s+(\S+)\s+(\S+)\s*$/.exec(line.trim());
    if (m) types.set(m[1] as string, m[2] as string);
  }
  return types;
}

/** The value of one series in a parsed map, or undefined when it is absent. */
export function value(map: Map<string, number>, name: string, labels?: Labels): number | undefined {
  return map.get(seriesKey(name, labels));
}
