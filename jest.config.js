/**
 * Tests run against the TypeScript sources, in two tiers (`npm test` runs both):
 *
 * - unit: files named `*.unit.test.ts`, wherever they are (tests/unit/, or next to the code as
 *   exporters/<prober>/<name>.unit.test.ts). Pure code only: target parsing, globs, durations,
 *   validation rules. No server, no network, no browser, no build: `npm run test:unit` runs them
 *   in seconds on a bare checkout, and tests/unit/no-network.ts makes a listen() or connect()
 *   fail the test that tries it. (Its `--ci` also ends --selectProjects' list of names, so
 *   `npm run test:unit -- exporters/sftp` takes the path as a path.)
 * - servers: every other `*.test.ts`. They start what they need themselves (PostgreSQL, sshd,
 *   an SMTP server, Dovecot, Chromium, dockerd, the built checkpoint), which scripts/test.sh installs and
 *   builds first.
 */
const shared = {
  testEnvironment: 'node',
  roots: ['<rootDir>/tests', '<rootDir>/exporters', '<rootDir>/src'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }] },
};

const UNIT = '**/*.unit.test.ts';

module.exports = {
  projects: [
    { ...shared, displayName: 'unit', testMatch: [UNIT], setupFilesAfterEnv: ['<rootDir>/tests/unit/no-network.ts'] },
    { ...shared, displayName: 'servers', testMatch: ['**/*.test.ts'], testPathIgnorePatterns: ['/node_modules/', '\\.unit\\.test\\.ts$'] },
  ],
  testTimeout: 60000,
  // Suites share ports, CPU and child processes; two workers match the 2-core machines we run on.
  maxWorkers: 2,
  detectOpenHandles: false,
};
