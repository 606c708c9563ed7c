/**
 * Jest's asymmetric matchers with the type they have. @types/jest declares expect.stringContaining
 * and friends as returning `any`, so an expected object holding one is an unsafe `any` to the
 * type-aware lint; what they return is an AsymmetricMatcher, and these say so in one place.
 */
type Matcher = jest.AsymmetricMatcher;

/** expect.stringContaining: a string that contains `text`. */
export const stringContaining = (text: string): Matcher => expect.stringContaining(text) as Matcher;
/** expect.stringMatching: a string that `pattern` matches. */
export const stringMatching = (pattern: string | RegExp): Matcher => expect.stringMatching(pattern) as Matcher;
/** expect.any(String): any string. */
export const anyString = (): Matcher => expect.any(String) as Matcher;
