import { parseDurationSeconds } from '../../src/config/duration';

test.each([
  ['5s', 5],
  ['500ms', 0.5],
  ['1m30s', 90],
  ['1h', 3600],
  ['1d2h', 93600],
  ['0s', 0],
])('%s is %p seconds', (text, seconds) => {
  expect(parseDurationSeconds(text)).toBeCloseTo(seconds);
});

test.each(['', '5', '5 s', 's', '1s1m', '-5s', '1.5s'])('%p is not a duration', (text) => {
  expect(parseDurationSeconds(text)).toBeUndefined();
});
