/**
 * The docker prober's pure parts: reading a target, and the module rules the config check
 * applies to the engine address. No engine is started (the suite with one is docker.test.ts).
 */
import { dockerProber } from '.';
import { parseDockerEndpoint } from './endpoint';
import { builtInProbers } from '../../src/cli/probers';
import { parseConfig } from '../../src/config/load';

/** The problem with `target`, or undefined when it parses. */
function targetProblem(target: string): string | undefined {
  const parsed = dockerProber.parseTarget(target);
  return 'problem' in parsed ? parsed.problem : undefined;
}

function loadModule(section: string): unknown {
  return parseConfig(`modules:\n  d:\n    prober: docker\n    docker:\n${section}`, 'd.yml', builtInProbers);
}

describe('targets', () => {
  test('a bad target is refused with its message', () => {
    expect(targetProblem('/web')).toBe('target "/web": write the container name without the leading /');
    expect(targetProblem('web app')).toContain('is not a container name or id');
    expect(targetProblem('label:')).toContain('the label selector is empty');
    expect(targetProblem('label:a=b,=c')).toContain('is not key or key=value');
    expect(targetProblem('label:com.docker.compose.project=shop')).toBeUndefined();
  });

  test('a name, an id prefix and a label selector parse into what the probe is handed', () => {
    expect(dockerProber.parseTarget('web')).toEqual({ target: { kind: 'container', name: 'web' } });
    expect(dockerProber.parseTarget('4f2a9c1e0b7d')).toEqual({ target: { kind: 'container', name: '4f2a9c1e0b7d' } });
    expect(dockerProber.parseTarget('label:com.docker.compose.project=shop,tier')).toEqual({ target: { kind: 'labels', filters: ['com.docker.compose.project=shop', 'tier'] } });
  });
});

describe('the engine address', () => {
  test("a unix socket, and tcp:// with Docker's port for plain HTTP or TLS unless one is given", () => {
    expect(parseDockerEndpoint('unix:///var/run/docker.sock', false)).toEqual({ kind: 'unix', path: '/var/run/docker.sock' });
    expect(parseDockerEndpoint('tcp://engine.example', false)).toEqual({ kind: 'tcp', host: 'engine.example', port: 2375, tls: false });
    expect(parseDockerEndpoint('tcp://engine.example', true)).toEqual({ kind: 'tcp', host: 'engine.example', port: 2376, tls: true });
    expect(parseDockerEndpoint('tcp://[::1]:2380', true)).toEqual({ kind: 'tcp', host: '::1', port: 2380, tls: true });
  });

  test('a relative socket path, credentials, a path and port 0 are refused', () => {
    expect(parseDockerEndpoint('unix://docker.sock', false)).toEqual({ problem: '"unix://docker.sock": a unix socket needs an absolute path, as in unix:///var/run/docker.sock' });
    expect(parseDockerEndpoint('tcp://user:secret@engine.example', true)).toEqual({ problem: 'credentials do not belong in host: the engine is authenticated by tls_config client certificates' });
    expect(parseDockerEndpoint('tcp://engine.example/v1.41', false)).toEqual({ problem: '"tcp://engine.example/v1.41": only tcp://host:port, without a path or parameters' });
    expect(parseDockerEndpoint('tcp://engine.example:0', false)).toEqual({ problem: 'port 0 cannot be connected to' });
  });
});

describe('modules the config refuses', () => {
  test('a tls_config on a unix socket, an unknown key and a host that is not unix:// or tcp:// are refused with their messages', () => {
    expect(() => loadModule('      host: unix:///run/docker.sock\n      tls_config:\n        ca_file: /ca.pem\n')).toThrow(/tls_config applies to a tcp:\/\/ host/);
    expect(() => loadModule('      socket: /run/docker.sock\n')).toThrow(/socket/);
    expect(() => loadModule('      host: http://localhost:2375\n')).toThrow(/is not unix:\/\/\/path or tcp:\/\/host:port/);
  });
});
