// Metrics typed as `name=value` lines (the CLI's `--metric accuracy=0.93`), checked as the
// engine checks them so an upload is not refused for a typo the form can point at.

export type MetricsParse = { ok: true; metrics: Record<string, number> } | { ok: false; message: string };

const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

export function parseMetricLines(text: string): MetricsParse {
  const metrics: Record<string, number> = {};
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n].trim();
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq < 0) return { ok: false, message: `line ${n + 1}: metric '${line}' must look like name=value, e.g. accuracy=0.93` };
    const name = line.slice(0, eq).trim();
    const raw = line.slice(eq + 1).trim();
    if (!name) return { ok: false, message: `line ${n + 1}: the metric needs a name before '='` };
    const value = Number(raw);
    if (!DECIMAL.test(raw) || !Number.isFinite(value)) {
      return { ok: false, message: `line ${n + 1}: metric '${name}' needs a finite number, got '${raw}'` };
    }
    metrics[name] = value;
  }
  return { ok: true, metrics };
}
