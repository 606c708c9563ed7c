import { parseDurationSeconds, validatedSeconds } from '../../src/config/duration';

test.each([
  ['5s', 5],
  ['500ms', 0.5],
  ['1m30s', 90],
  ['1h', 3600],
  ['1d2h', 93600],
  ['0s', 0],
  ['1y', 365 * 86400],
  ['2w', 14 * 86400],
  ['1h30m', 5400],
  ['90m', 5400],
  ['1s500ms', 1.5],
  ['1y1w1d1h1m1s1ms', 365 * 86400 + 7 * 86400 + 86400 + 3600 + 60 + 1 + 0.001],
  ['007s', 7],
])('%s is %p seconds', (text, seconds) => {
  expect(parseDurationSeconds(text)).toBeCloseTo(seconds);
});

// Units in Prometheus' order, each once, lower case, no spaces, whole numbers.
test.each(['', '5', '5 s', 's', '1s1m', '-5s', '1.5s', '1ms1s', '1h1h', '5S', '1m 30s', '5sec', ' 5s', '5s '])('%p is not a duration', (text) => {
  expect(parseDurationSeconds(text)).toBeUndefined();
});

test('validatedSeconds reads a duration the schema accepted, and calls one it should have refused a bug', () => {
  expect(validatedSeconds('1m30s')).toBe(90);
  expect(validatedSeconds('0s')).toBe(0);
  expect(() => validatedSeconds('soon')).toThrow('"soon" is not a duration, and the config validation should have refused it');
});
