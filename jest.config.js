/** Tests run against the TypeScript sources; servers they need are started by the tests themselves. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/tests', '<rootDir>/exporters', '<rootDir>/src'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }] },
  testTimeout: 60000,
  // Suites share ports, CPU and child processes; two workers match the 2-core machines we run on.
  maxWorkers: 2,
  detectOpenHandles: false,
};
