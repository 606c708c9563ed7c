import { MAX_TIMER_SECONDS, probeDeadlineSeconds } from '../../src/probe/deadline';

// The deadline rule: min(module timeout, scrape timeout header - offset, --probe.max-timeout), 120 s when Prometheus sends no header.
test.each([
  // module timeout, header, offset, expected
  [undefined, undefined, 0.5, 119.5],
  [5, undefined, 0.5, 5],
  [undefined, '10', 0.5, 9.5],
  [5, '10', 0.5, 5],
  [15, '10', 0.5, 9.5],
  [5, '5', 0.5, 4.5],
  [5, ' 2.5 ', 0, 2.5],
  // An offset that would leave nothing: the module's timeout if it has one, else the whole scrape timeout.
  [3, '0.4', 0.5, 3],
  [undefined, '0.4', 0.5, 0.4],
  [0, '10', 0.5, 9.5],
  // The cap (120 s here) holds whatever the header or the module says.
  [undefined, '2000000', 0.5, 120],
  [undefined, '1e300', 0.5, 120],
  [300, undefined, 0.5, 119.5],
  [300, '600', 0.5, 120],
])('module %p, header %p, offset %p -> %p s', (moduleTimeoutSeconds, scrapeTimeoutHeader, offsetSeconds, expected) => {
  expect(probeDeadlineSeconds({ moduleTimeoutSeconds, scrapeTimeoutHeader, offsetSeconds, maxSeconds: 120 })).toBe(expected);
});

test('no deadline reaches the timer overflow (2^31 ms), even with a larger cap', () => {
  expect(probeDeadlineSeconds({ scrapeTimeoutHeader: '2000000000', offsetSeconds: 0.5, maxSeconds: Number.MAX_VALUE })).toBe(MAX_TIMER_SECONDS);
});

test.each(['', 'abc', '-1', '0', 'NaN', 'Infinity', '-Infinity', '0x10'])('header %p is refused with a message', (header) => {
  expect(probeDeadlineSeconds({ scrapeTimeoutHeader: header, offsetSeconds: 0.5, maxSeconds: 120 })).toEqual({
    error: `invalid X-Prometheus-Scrape-Timeout-Seconds header: ${JSON.stringify(header)}`,
  });
});
