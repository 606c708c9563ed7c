/** blackbox_exporter's `body_size_limit`: a byte count, or a size such as "10MB" (base 2, as Go's units package reads it). */
const MULTIPLIERS: Record<string, number> = { B: 1, KB: 1024, KiB: 1024, MB: 1024 ** 2, MiB: 1024 ** 2, GB: 1024 ** 3, GiB: 1024 ** 3 };

export function bodySizeLimitBytes(limit: number | string | undefined): number | undefined {
  if (limit === undefined) return undefined;
  if (typeof limit === 'number') return limit > 0 ? limit : undefined;
  const [, amount, unit] = /^(\d+)([A-Za-z]*)$/.exec(limit) ?? [];
  const bytes = Number(amount) * (MULTIPLIERS[unit || 'B'] ?? NaN);
  return bytes > 0 ? bytes : undefined;
}
