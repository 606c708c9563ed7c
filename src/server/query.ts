/** Query parameters, parsed the one way both the fast routes and express (its `simple` parser) parse them. */
import type { ParsedUrlQuery } from 'node:querystring';

/** One value of a query parameter; a repeated parameter is refused by taking none. */
export function queryParam(query: ParsedUrlQuery, name: string): string | undefined {
  const value = query[name];
  return typeof value === 'string' ? value : undefined;
}
