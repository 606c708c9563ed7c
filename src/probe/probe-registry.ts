/**
 * One probe's metrics: gauges, as in every blackbox_exporter answer, written once as Prometheus
 * text (the same text prom-client writes). prom-client's Registry and Gauge cost about 36 µs of
 * CPU per probe for the http prober's twenty series, this about 7 (measured side by side); the
 * checkpoint's own long-lived metrics stay in prom-client (src/observability/self-metrics.ts).
 */
export const TEXT_EXPOSITION = 'text/plain; version=0.0.4; charset=utf-8';

export interface GaugeSeries {
  set(value: number): void;
  inc(by?: number): void;
}

/** One series of a gauge: its label values and its value. */
class Series implements GaugeSeries {
  value = 0;

  constructor(readonly labelValues: readonly string[]) {}

  set(value: number): void {
    this.value = value;
  }

  inc(by = 1): void {
    this.value += by;
  }
}

/** One label value per label name, in order: a wrong count does not compile. */
type LabelValues<Names extends readonly string[]> = { [Index in keyof Names]: string | number };

export class ProbeGauge<Names extends readonly string[] = readonly []> implements GaugeSeries {
  /** By label values joined with NUL, in the order first set: the order they are written. */
  readonly series = new Map<string, Series>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: Names,
  ) {
    // As in prom-client: a gauge without labels is one series, 0 until set.
    if (labelNames.length === 0) this.series.set('', new Series([]));
  }

  set(value: number): void {
    this.unlabelled().set(value);
  }

  inc(by = 1): void {
    this.unlabelled().inc(by);
  }

  /** A gauge with labels has no series of its own: `set` on one is a bug, as prom-client says. */
  private unlabelled(): Series {
    const series = this.labelNames.length === 0 ? this.series.get('') : undefined;
    if (!series) throw new Error(`${this.name} has labels ${JSON.stringify(this.labelNames)}: set a series through labels()`);
    return series;
  }

  /** The series of these label values, in `labelNames` order, made at 0 on first use. */
  labels(...values: LabelValues<Names>): GaugeSeries {
    if (values.length !== this.labelNames.length) throw new Error(`${this.name} has labels ${JSON.stringify(this.labelNames)}, got ${values.length} values`);
    const labelValues = values.map(String);
    const key = labelValues.join('\0');
    let series = this.series.get(key);
    if (!series) {
      series = new Series(labelValues);
      this.series.set(key, series);
    }
    return series;
  }
}

export class ProbeRegistry {
  readonly contentType = TEXT_EXPOSITION;
  private readonly gauges = new Map<string, ProbeGauge<readonly string[]>>();

  /** A new gauge; its label names, written `['phase'] as const`, type the values `labels()` takes. */
  gauge(name: string, help: string): ProbeGauge;
  gauge<const Names extends readonly string[]>(name: string, help: string, labelNames: Names): ProbeGauge<Names>;
  gauge(name: string, help: string, labelNames: readonly string[] = []): ProbeGauge<readonly string[]> {
    if (this.gauges.has(name)) throw new Error(`A metric with the name ${name} has already been registered.`);
    const gauge = new ProbeGauge(name, help, labelNames);
    this.gauges.set(name, gauge);
    return gauge;
  }

  /** The text exposition format, metrics in the order registered, a blank line between them (as prom-client writes it). */
  metrics(): string {
    const families: string[] = [];
    for (const gauge of this.gauges.values()) {
      const lines = [`# HELP ${gauge.name} ${escape(gauge.help)}`, `# TYPE ${gauge.name} gauge`];
      for (const { labelValues, value } of gauge.series.values()) {
        const labels = labelValues.map((labelValue, index) => `${gauge.labelNames[index]}="${escape(labelValue).replace(/"/g, '\\"')}"`);
        lines.push(`${gauge.name}${labels.length > 0 ? `{${labels.join(',')}}` : ''} ${valueText(value)}`);
      }
      families.push(lines.join('\n'));
    }
    return `${families.join('\n\n')}\n`;
  }
}

function escape(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** Go's ParseFloat reads these; prom-client writes NaN as "Nan", and so do we. */
function valueText(value: number): string {
  if (Number.isNaN(value)) return 'Nan';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}
