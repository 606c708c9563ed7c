/**
 * A monitor's own `interval:` and `timeout:` (src/config/schema.ts, load.ts) and how /sd passes
 * them to Prometheus (src/server/service-discovery.ts).
 */
import { builtInProbers } from '../../src/cli/probers';
import { parseConfig } from '../../src/config/load';
import { ConfigError } from '../../src/config/problems';
import { serviceDiscovery } from '../../src/server/service-discovery';

const MODULES = 'modules:\n  web:\n    prober: http\nmonitors:\n';

function problemsOf(monitors: string): string[] {
  try {
    parseConfig(MODULES + monitors, 'c.yml', builtInProbers);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

test("/sd passes a monitor's interval and timeout as __scrape_interval__ and __scrape_timeout__, and nothing for one without", () => {
  const config = parseConfig(
    MODULES + '  - {name: mail, module: web, target: "http://mail.example", interval: 1m, timeout: 30s}\n  - {name: page, module: web, target: "http://page.example"}\n',
    'c.yml',
    builtInProbers,
  );
  expect(serviceDiscovery(config)).toEqual([
    { targets: ['http://mail.example'], labels: { monitor: 'mail', module: 'web', __param_module: 'web', __scrape_interval__: '1m', __scrape_timeout__: '30s' } },
    { targets: ['http://page.example'], labels: { monitor: 'page', module: 'web', __param_module: 'web' } },
  ]);
});

test('a timeout longer than the interval, or a zero duration, is refused: Prometheus would drop the target', () => {
  expect(
    problemsOf(
      '  - {name: a, module: web, target: "http://a.example", interval: 30s, timeout: 1m}\n  - {name: b, module: web, target: "http://b.example", interval: 0s}\n  - {name: c, module: web, target: "http://c.example", interval: soon}\n',
    ),
  ).toEqual([
    "c.yml:5:80: monitors.0.timeout: timeout 1m is longer than the monitor's interval 30s; Prometheus would drop the target",
    'c.yml:6:66: monitors.1.interval: must be longer than 0s',
    'c.yml:7:66: monitors.2.interval: must be a duration such as 5s, 500ms or 1m30s',
  ]);
  expect(problemsOf('  - {name: a, module: web, target: "http://a.example", interval: 30s, timeout: 30s}\n  - {name: b, module: web, target: "http://b.example", timeout: 5s}\n')).toEqual([]);
});

test('an interval over a minute is refused: the alert rules would see too few of its probes to confirm an outage', () => {
  expect(problemsOf('  - {name: a, module: web, target: "http://a.example", interval: 5m}\n  - {name: b, module: web, target: "http://b.example", interval: 1m}\n')).toEqual([
    "c.yml:5:66: monitors.0.interval: interval 5m is longer than 1m: the alert rules confirm an outage on each checkpoint's probes of the last minutes, and would see too few",
  ]);
});
