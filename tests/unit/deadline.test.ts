import { probeDeadlineSeconds } from '../../src/probe/deadline';

// The deadline rule: min(module timeout, scrape timeout header - offset), 120 s when Prometheus sends no header.
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
])('module %p, header %p, offset %p -> %p s', (moduleTimeoutSeconds, scrapeTimeoutHeader, offsetSeconds, expected) => {
  expect(probeDeadlineSeconds({ moduleTimeoutSeconds, scrapeTimeoutHeader, offsetSeconds })).toBe(expected);
});

test.each(['', 'abc', '-1', '0', 'NaN', 'Infinity'])('header %p is refused with a message', (header) => {
  expect(probeDeadlineSeconds({ scrapeTimeoutHeader: header, offsetSeconds: 0.5 })).toEqual({
    error: `invalid X-Prometheus-Scrape-Timeout-Seconds header: ${JSON.stringify(header)}`,
  });
});
