/**
 * The smoke test and bench:detection shrink the rules' range windows with their probe interval;
 * a regex in an expression (label_replace's `[0-9]`) must come through untouched.
 */
import { scaleWindows } from '../support/stack-config';

test('range windows and subqueries are divided, in milliseconds where need be', () => {
  expect(scaleWindows('1 - avg_over_time(probe_success{job="probe"}[1m])', 7.5)).toBe('1 - avg_over_time(probe_success{job="probe"}[8s])');
  expect(scaleWindows('max_over_time(x[1h30m:5m])', 30)).toBe('max_over_time(x[180s:10s])');
  expect(scaleWindows('rate(x[5m]) and increase(y[1s])', 3)).toBe('rate(x[100s]) and increase(y[333ms])');
});

test('what is not a window is left as it is', () => {
  const expr = 'label_replace(up, "host", "$1", "container", "(.+)[-_][0-9]+") and z{a=~"[a-z]+"}';
  expect(scaleWindows(expr, 30)).toBe(expr);
  expect(scaleWindows('no windows here', 30)).toBe('no windows here');
});
