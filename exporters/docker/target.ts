/**
 * A docker target: one container by name or id (a hex prefix works, as with `docker inspect`),
 * or `label:` and a selector for a group of containers, such as every container of a compose
 * project: `label:com.docker.compose.project=shop`. Container names cannot contain a colon, so
 * the prefix is unambiguous.
 */
import type { TargetParse } from '../../src/net/target-url';

/** Docker's own rule for container names (daemon/names.go), which also covers hex ids and prefixes. */
const CONTAINER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const LABEL_PREFIX = 'label:';
/** `key` (the label is set) or `key=value`; keys without `=` or `,`, values without `,`. */
const LABEL_TERM = /^([^=,\s]+)(?:=([^,]*))?$/;

export type DockerTarget =
  | { kind: 'container'; name: string }
  /** Docker's label filters, each `key` or `key=value`; a container must carry all of them. */
  | { kind: 'labels'; filters: string[] };

export function parseDockerTarget(target: string): TargetParse<DockerTarget> {
  if (target.startsWith(LABEL_PREFIX)) {
    const selector = target.slice(LABEL_PREFIX.length);
    if (selector === '') return { problem: 'the label selector is empty: use label:key=value (comma-separated for several)' };
    const filters = selector.split(',');
    for (const filter of filters) {
      if (!LABEL_TERM.test(filter)) return { problem: `label selector term ${JSON.stringify(filter)} is not key or key=value` };
    }
    return { target: { kind: 'labels', filters } };
  }
  if (target.startsWith('/')) return { problem: `target ${JSON.stringify(target)}: write the container name without the leading /` };
  if (!CONTAINER_NAME.test(target)) {
    return { problem: `target ${JSON.stringify(target)} is not a container name or id, nor label:key=value (the engine is set in the module's host)` };
  }
  return { target: { kind: 'container', name: target } };
}
