/**
 * The config rules several probers share (src/config/rules.ts) and the rules of a secret that
 * comes from a file or the environment (secretSourceProblems, src/config/secrets.ts): which
 * sections they refuse, with which message, at which path.
 */
import { mutuallyExclusive, positiveDuration } from '../../src/config/rules';
import { SecretSource, secretSourceProblems } from '../../src/config/secrets';

describe('mutuallyExclusive', () => {
  const keys = ['body', 'body_file'] as const;
  const at = ['modules', 'web', 'http', 'body_file'];

  test.each([{}, { body: 'x' }, { body_file: '/x' }, { body: undefined, body_file: '/x' }, { other: 1, another: 2 }])('%p: at most one is set', (section) => {
    expect(mutuallyExclusive(section, keys, at)).toEqual([]);
  });

  test('both set: one problem, at the path given, naming both keys in their order', () => {
    expect(mutuallyExclusive({ body: 'x', body_file: '/x' }, keys, at)).toEqual([{ path: at, message: 'body and body_file are mutually exclusive' }]);
    expect(mutuallyExclusive({ body_file: '/x', body: 'x' }, keys, ['m'])).toEqual([{ path: ['m'], message: 'body and body_file are mutually exclusive' }]);
  });

  test('a key set to an empty string, false or 0 is set', () => {
    expect(mutuallyExclusive({ body: '', body_file: '' }, keys, at)).toHaveLength(1);
    expect(mutuallyExclusive({ a: false, b: 0 }, ['a', 'b'], at)).toHaveLength(1);
  });
});

describe('positiveDuration', () => {
  const at = ['modules', 'web', 'timeout'];

  test.each([undefined, '1ms', '1s', '1m30s', '1y'])('%p is accepted', (value) => {
    expect(positiveDuration(value, at)).toEqual([]);
  });

  test.each(['0s', '0ms', '0h0m0s', '0y'])('%p is refused at the path given', (value) => {
    expect(positiveDuration(value, at)).toEqual([{ path: at, message: 'must be longer than 0s' }]);
  });

  test('text that is not a duration (the schema refuses it first) is not longer than 0s either', () => {
    expect(positiveDuration('soon', at)).toEqual([{ path: at, message: 'must be longer than 0s' }]);
  });
});

describe('secretSourceProblems', () => {
  const path = ['modules', 'db', 'postgres'];

  test('SecretSource spells the pair <name>_file and <name>_env', () => {
    expect(Object.keys(SecretSource('password', 'password'))).toEqual(['password_file', 'password_env']);
  });

  test.each([{}, { password_file: '/run/secrets/pw' }, { password_env: 'PW' }, { user: 'probe' }])('%p: fine when not required', (section) => {
    expect(secretSourceProblems(section, 'password', path)).toEqual([]);
  });

  test('both: mutually exclusive, at <name>_env', () => {
    expect(secretSourceProblems({ password_file: '/pw', password_env: 'PW' }, 'password', path)).toEqual([
      { path: [...path, 'password_env'], message: 'password_file and password_env are mutually exclusive' },
    ]);
  });

  test('both, with clashAt: at that path instead (a section that is only the pair)', () => {
    const auth = ['modules', 'mail', 'smtp', 'auth'];
    expect(secretSourceProblems({ password_file: '/pw', password_env: 'PW' }, 'password', auth, { clashAt: auth })).toEqual([
      { path: auth, message: 'password_file and password_env are mutually exclusive' },
    ]);
  });

  test('required and neither set: one problem at the section', () => {
    const section: { user: string; password_file?: string } = { user: 'probe' };
    expect(secretSourceProblems(section, 'password', path, { required: true })).toEqual([{ path, message: 'needs password_file or password_env' }]);
  });

  test('required and one set: fine; required and both set: only the clash', () => {
    expect(secretSourceProblems({ password_env: 'PW' }, 'password', path, { required: true })).toEqual([]);
    expect(secretSourceProblems({ password_file: '/pw' }, 'password', path, { required: true })).toEqual([]);
    expect(secretSourceProblems({ password_file: '/pw', password_env: 'PW' }, 'password', path, { required: true })).toEqual([
      { path: [...path, 'password_env'], message: 'password_file and password_env are mutually exclusive' },
    ]);
  });

  test('the name is any secret, not only a password', () => {
    expect(secretSourceProblems({ token_file: '/t', token_env: 'T' }, 'token', ['m'])).toEqual([{ path: ['m', 'token_env'], message: 'token_file and token_env are mutually exclusive' }]);
    const withAnotherPair: { password_file?: string; token_file?: string } = { password_file: '/pw' };
    expect(secretSourceProblems(withAnotherPair, 'token', ['m'], { required: true })).toEqual([{ path: ['m'], message: 'needs token_file or token_env' }]);
  });
});
