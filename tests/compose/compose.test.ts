/**
 * compose.yaml, the checkpoint image and what they mount, checked without Docker (this machine
 * cannot pull an image; scripts/smoke-compose.sh runs the real stack where Docker can):
 *   - compose.yaml: the services the issue asks for, images pinned by version (or built here from
 *     pinned bases), a health check on every service, named volumes for the data that must
 *     survive a restart, the checkpoints non-root with a read-only root filesystem, every bind
 *     mount present in the repository, ports published only where meant and only on loopback;
 *   - the checkpoints' config (compose/checkpoint.yml): loads with the checkpoint's own parser,
 *     every file it names is mounted, its targets are compose services, and it agrees with the
 *     demo targets' own setup (users, secrets, host key, certificate, page title);
 *   - secrets: only from files, every committed one in compose/demo-secrets/, and no secret value
 *     anywhere else;
 *   - prometheus.yml, grafana/ and alertmanager/ agree with compose.yaml on names, ports and
 *     mounts, and alertmanager/render-config.sh renders a config from the compose environment;
 *   - the checkpoints as a closed box (docs/security.md): a web config with a login that
 *     Prometheus, the health check and the self-monitor send, allowed_targets, no lifecycle API on
 *     the checkpoints, Prometheus or Alertmanager, and networks that keep the checkpoints away
 *     from Alertmanager and give them only a network of Prometheus's own;
 *   - the Dockerfile (stages, Chromium, user, health check, port, what it copies) and its build
 *     stage's tsc run on exactly what the Dockerfile copies.
 */
import { spawnSync } from 'node:child_process';
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { parse } from 'yaml';
import { builtInProbers, type BuiltInModuleConfig } from '../../src/cli/probers';
import { parseConfig } from '../../src/config/load';
import type { CheckpointConfig } from '../../src/config/schema';
import {
  bindMounts,
  commandText,
  entries,
  HEALTHCHECK_KEYS,
  healthcheckText,
  interpolate,
  namedVolumes,
  PINNED_IMAGE,
  read,
  repoFileIn,
  ROOT,
  secretNames,
  SERVICE_KEYS,
  type Compose,
  type Service,
} from './compose-file';

const compose = parse(read('compose.yaml'), { merge: true }) as Compose;
const services = compose.services;
const CHECKPOINTS = ['checkpoint-a', 'checkpoint-b'];

/** The service `name` of compose.yaml; a test that needs one that is not there fails saying so. */
function service(name: string): Service {
  const found = services[name];
  if (!found) throw new Error(`compose.yaml has no service "${name}"`);
  return found;
}
/** The file of the top-level secret `name` of compose.yaml. */
function secretFile(name: string): string {
  const secret = compose.secrets[name];
  if (!secret) throw new Error(`compose.yaml declares no secret "${name}"`);
  return secret.file;
}
/** The environment variable `key` a service sets, as text (compose.yaml may write a number). */
function environmentOf(name: string, key: string): string {
  const value = service(name).environment?.[key];
  if (value === undefined) throw new Error(`compose.yaml: service "${name}" sets no ${key}`);
  return String(value);
}
/** A file of the repository that a service has at `containerPath` (see repoFileFor); a test fails naming what is not mounted. */
function mountedFile(name: string, containerPath: string): string {
  const file = repoFileFor(service(name), containerPath);
  if (file === undefined) throw new Error(`compose.yaml: service "${name}" has nothing of the repository mounted at ${containerPath}`);
  return file;
}
/** The host of `host:port` (all of an address without a port). */
function hostOf(address: string): string {
  return address.replace(/:.*/, '');
}
/** The first group of `pattern` in `text`; a test whose text does not match fails saying what it looked for. */
function captured(pattern: RegExp, text: string, what: string): string {
  const group = pattern.exec(text)?.[1];
  if (group === undefined) throw new Error(`no ${what} found (${pattern})`);
  return group;
}

/** A variable that compose.yaml lets the user set: `${NAME:-default}` in the raw text. */
function variableOf(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  return /^\$\{([A-Z0-9_]+):-[^}]*\}$/.exec(value)?.[1];
}
/** The repository file a service of compose.yaml has at `containerPath`, or undefined. */
function repoFileFor(svc: Service, containerPath: string): string | undefined {
  return repoFileIn(ROOT, compose, svc, containerPath);
}
function listFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? listFiles(full) : [full];
  });
}

describe('compose.yaml: services, images, health checks', () => {
  test('has the services the issue lists, and the project name the docker monitor selects', () => {
    expect(Object.keys(services).sort()).toEqual(
      [
        'alertmanager',
        'alertmanager-2',
        'cadvisor',
        'checkpoint-a',
        'checkpoint-b',
        'docker-proxy',
        'grafana',
        'mailpit',
        'node-exporter',
        'postgres',
        'postgres-backup',
        'postgres-exporter',
        'prometheus',
        'redis',
        'redis-exporter',
        'remote-write-gateway',
        'sftp',
        'webapp',
      ].sort(),
    );
    expect(compose.name).toBe('private-checkpoint');
  });

  test('uses only keys of the Compose Specification (schema/compose-spec.json), so a typo cannot pass silently', () => {
    const raw = parse(read('compose.yaml')) as Record<string, unknown>;
    expect(
      Object.keys(raw)
        .filter((key) => !key.startsWith('x-'))
        .sort(),
    ).toEqual(['name', 'networks', 'secrets', 'services', 'volumes']);
    for (const [name, service] of Object.entries(services)) {
      for (const key of Object.keys(service)) expect([name, key, SERVICE_KEYS.has(key)]).toEqual([name, key, true]);
      for (const key of Object.keys(service.healthcheck ?? {})) expect([name, key, HEALTHCHECK_KEYS.has(key)]).toEqual([name, key, true]);
      const dependsOn = (service as { depends_on?: Record<string, { condition: string }> }).depends_on ?? {};
      for (const [dependency, { condition }] of Object.entries(dependsOn)) {
        expect(Object.keys(services)).toContain(dependency);
        expect(['service_started', 'service_healthy']).toContain(condition);
      }
    }
    for (const secret of Object.values(compose.secrets)) expect(Object.keys(secret)).toEqual(['file']);
  });

  test('every image is pinned to a version, or built here from a pinned base', () => {
    for (const [name, service] of Object.entries(services)) {
      if (service.build) {
        // A local name for what compose builds; the pin is the Dockerfile's FROM.
        expect([name, service.image]).toEqual([name, expect.stringMatching(/^private-checkpoint[a-z-]*:local$/)]);
        const context = typeof service.build === 'string' ? service.build : service.build.context;
        const dockerfile = readFileSync(path.join(ROOT, context, 'Dockerfile'), 'utf8');
        const bases = [...dockerfile.matchAll(/^ARG NODE_IMAGE=(\S+)|^FROM (\S+)/gm)].flatMap((m) => m[1] ?? m[2] ?? []).filter((base) => !base.startsWith('$'));
        expect(bases.length).toBeGreaterThan(0);
        for (const base of bases) expect([name, base]).toEqual([name, expect.stringMatching(PINNED_IMAGE)]);
      } else if (service.image?.endsWith(':local')) {
        // The image another service builds (checkpoint-b runs checkpoint-a's).
        const builder = Object.values(services).find((other) => other.build && other.image === service.image);
        expect([name, builder?.image]).toEqual([name, service.image]);
      } else {
        expect([name, service.image]).toEqual([name, expect.stringMatching(PINNED_IMAGE)]);
      }
    }
  });

  test('the images are the versions chosen in docs/compose.md', () => {
    const images = Object.fromEntries(Object.entries(services).map(([name, service]) => [name, service.image]));
    const docs = read('docs/compose.md');
    for (const [name, image] of Object.entries(images)) {
      if (image?.endsWith(':local')) continue;
      expect([name, docs.includes(`\`${image}\``)]).toEqual([name, true]);
    }
  });

  test('every service has a health check that asks the service itself', () => {
    for (const [name, service] of Object.entries(services)) {
      expect([name, service.healthcheck?.disable]).toEqual([name, undefined]);
      const test = service.healthcheck?.test;
      expect([name, Array.isArray(test) && test[0]]).toEqual([name, 'CMD']);
      expect([name, service.healthcheck?.interval]).toEqual([name, expect.stringMatching(/^\d+s$/)]);
    }
    // The HTTP ones ask the port the service listens on (the one Prometheus scrapes, below).
    expect(healthcheckText(service('checkpoint-a'))).toContain('http://127.0.0.1:9915/-/healthy');
    expect(healthcheckText(service('prometheus'))).toContain('http://127.0.0.1:9090/-/healthy');
    expect(healthcheckText(service('alertmanager'))).toContain('http://127.0.0.1:9093/-/healthy');
    expect(healthcheckText(service('grafana'))).toContain('http://127.0.0.1:3000/api/health');
    expect(healthcheckText(service('node-exporter'))).toContain('http://127.0.0.1:9100/metrics');
    expect(healthcheckText(service('cadvisor'))).toContain('http://127.0.0.1:8080/healthz');
    expect(healthcheckText(service('postgres-exporter'))).toContain('http://127.0.0.1:9187/');
    expect(healthcheckText(service('docker-proxy'))).toContain('http://127.0.0.1:2375/version');
    expect(healthcheckText(service('remote-write-gateway'))).toContain('https://127.0.0.1/healthz');
    expect(healthcheckText(service('mailpit'))).toBe('CMD /mailpit readyz');
    expect(healthcheckText(service('postgres'))).toMatch(/^CMD pg_isready /);
    expect(healthcheckText(service('redis-exporter'))).toContain('http://127.0.0.1:9121/health');
    // Redis answers NOAUTH before a login: the check needs no password.
    expect(healthcheckText(service('redis'))).toContain("redis-cli -h 127.0.0.1 -p 6379 ping | grep -q '^NOAUTH'");
    // The sftp check reads sshd's banner; `$$` keeps compose from interpolating the shell's variable.
    expect(interpolate(healthcheckText(service('sftp')))).toContain('[[ $banner == SSH-2.0-* ]]');
    // The scheduler's loop touches its file (compose/backup/schedule.sh).
    expect(healthcheckText(service('postgres-backup'))).toContain('find /tmp/schedule.alive -mmin -1');
  });

  test('every service has a memory, CPU and process limit', () => {
    for (const [name, svc] of Object.entries(services) as [string, Service & { mem_limit?: string; cpus?: number; pids_limit?: number }][]) {
      expect([name, svc.mem_limit]).toEqual([name, expect.stringMatching(/^\d+[mg]$/)]);
      expect([name, typeof svc.cpus === 'number' && svc.cpus > 0 && svc.cpus <= 2]).toEqual([name, true]);
      expect([name, typeof svc.pids_limit === 'number' && svc.pids_limit >= 32]).toEqual([name, true]);
    }
  });

  test("Prometheus's start waits for no other service's health: an unhealthy checkpoint must not keep the alerting down", () => {
    const dependsOn = (service('prometheus') as { depends_on?: Record<string, { condition: string }> }).depends_on ?? {};
    expect(Object.keys(dependsOn).sort()).toEqual(['alertmanager', 'checkpoint-a', 'checkpoint-b']);
    for (const [name, { condition }] of Object.entries(dependsOn)) expect([name, condition]).toEqual([name, 'service_started']);
  });

  test('Prometheus, Alertmanager and Grafana keep their data in named volumes', () => {
    const expected: Record<string, [string, string]> = {
      prometheus: ['prometheus-data', '/prometheus'],
      alertmanager: ['alertmanager-data', '/alertmanager'],
      grafana: ['grafana-data', '/var/lib/grafana'],
    };
    for (const [name, [volume, target]] of Object.entries(expected)) {
      expect(namedVolumes(service(name))).toContainEqual({ source: volume, target, options: [] });
      expect(Object.keys(compose.volumes)).toContain(volume);
    }
    expect(commandText(service('prometheus'))).toContain('--storage.tsdb.path=/prometheus');
    expect(commandText(service('alertmanager'))).toContain('--storage.path=/alertmanager');
    for (const service of Object.values(services)) {
      for (const volume of namedVolumes(service)) expect(Object.keys(compose.volumes)).toContain(volume.source);
    }
  });
});

describe('compose.yaml: the checkpoints run confined', () => {
  test.each(CHECKPOINTS)('%s: non-root, read-only root filesystem, tmpfs for what it writes, no capabilities', (name) => {
    const checkpoint = service(name);
    expect(checkpoint.user).toMatch(/^\d+:\d+$/);
    expect(Number(checkpoint.user?.split(':')[0])).toBeGreaterThan(0);
    expect(checkpoint.read_only).toBe(true);
    expect(checkpoint.tmpfs).toEqual([expect.stringMatching(/^\/tmp(:|$)/)]);
    expect(checkpoint.cap_drop).toEqual(['ALL']);
    expect(checkpoint.security_opt).toContain('no-new-privileges:true');
    expect(checkpoint.privileged).toBeUndefined();
    for (const mount of bindMounts(checkpoint)) expect(mount.options).toContain('ro');
    // The browser prober's screenshots go to the tmpfs.
    const config = checkpointConfig();
    expect(firstModuleOf(config, 'browser').browser.artifacts.dir).toMatch(/^\/tmp\//);
  });

  test('the Dockerfile user is the compose user', () => {
    const user = /^USER (\S+)$/m.exec(read('Dockerfile'))?.[1];
    for (const name of CHECKPOINTS) expect(service(name).user).toBe(user);
  });

  test('only the socket proxy sees the Docker socket, read-only, on an internal network with the checkpoints', () => {
    for (const [name, service] of Object.entries(services)) {
      const socket = bindMounts(service).filter((mount) => mount.source === '/var/run/docker.sock');
      expect([name, socket.length]).toEqual([name, name === 'docker-proxy' ? 1 : 0]);
    }
    const proxy = service('docker-proxy');
    const [socket] = bindMounts(proxy);
    expect(socket?.options).toEqual(['ro']);
    expect(proxy.environment).toEqual({ CONTAINERS: 1, VERSION: 1, POST: 0 });
    expect(compose.networks['docker-proxy']).toEqual({ internal: true });
    const onProxyNetwork = Object.entries(services)
      .filter(([, service]) => service.networks?.includes('docker-proxy'))
      .map(([name]) => name);
    expect(onProxyNetwork.sort()).toEqual([...CHECKPOINTS, 'docker-proxy'].sort());
    expect(proxy.networks).toEqual(['docker-proxy']);
  });
});

describe('compose.yaml: mounts and ports', () => {
  /** Host paths outside the repository that a service may mount, read-only: what it exists to read. */
  const HOST_MOUNTS: Record<string, string[]> = {
    'node-exporter': ['/'],
    cadvisor: ['/', '/var/run', '/sys', '/var/lib/docker/', '/dev/disk/'],
    'docker-proxy': ['/var/run/docker.sock'],
  };

  test('every bind mount from the repository exists, and is read-only', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const mount of bindMounts(service)) {
        if (mount.source.startsWith('/')) continue;
        expect([name, mount.source, existsSync(path.join(ROOT, mount.source))]).toEqual([name, mount.source, true]);
        expect([name, mount.source, mount.options]).toEqual([name, mount.source, ['ro']]);
      }
    }
  });

  test('host paths are mounted only by the services that read the host, read-only', () => {
    for (const [name, service] of Object.entries(services)) {
      const hostMounts = bindMounts(service).filter((mount) => mount.source.startsWith('/'));
      expect([name, hostMounts.map((mount) => mount.source)]).toEqual([name, HOST_MOUNTS[name] ?? []]);
      for (const mount of hostMounts) expect([name, mount.options[0]]).toEqual([name, 'ro']);
    }
    expect(service('cadvisor').privileged).toBe(true);
  });

  test('every build context exists', () => {
    for (const service of Object.values(services)) {
      if (!service.build) continue;
      const context = typeof service.build === 'string' ? service.build : service.build.context;
      expect(existsSync(path.join(ROOT, context, 'Dockerfile'))).toBe(true);
    }
  });

  test("ports are published only for the UIs, the checkpoints status pages and the sites' gateway, on loopback", () => {
    const published = Object.fromEntries(
      Object.entries(services)
        .filter(([, service]) => service.ports)
        .map(([name, service]) => [name, service.ports]),
    );
    expect(published).toEqual({
      'checkpoint-a': ['127.0.0.1:9915:9915'],
      'checkpoint-b': ['127.0.0.1:9916:9915'],
      prometheus: ['127.0.0.1:9090:9090'],
      alertmanager: ['127.0.0.1:9093:9093'],
      grafana: ['127.0.0.1:3000:3000'],
      mailpit: ['127.0.0.1:8025:8025'],
      // Where the sites push (docs/multi-site.md): loopback unless REMOTE_WRITE_GATEWAY_PORT says where the sites reach it.
      'remote-write-gateway': ['${REMOTE_WRITE_GATEWAY_PORT:-127.0.0.1:8443}:443'],
    });
  });
});

describe('compose.yaml: Redis and its exporter', () => {
  const REDIS_CONF = '/usr/local/etc/redis/redis.conf';
  /** The value of `directive` in the shipped compose/redis/redis.conf (its last occurrence, as Redis reads it). */
  const redisSetting = (directive: string): string => {
    const values = [...read('compose/redis/redis.conf').matchAll(new RegExp(`^${directive} (.+)$`, 'gm'))].map((m) => m[1] as string);
    const value = values.at(-1);
    if (value === undefined) throw new Error(`compose/redis/redis.conf has no ${directive}`);
    return value;
  };
  /** The value of `--flag=` on the exporter's command line. */
  const exporterFlag = (flag: string): string => captured(new RegExp(`(?:^| )--${flag.replace(/\./g, '\\.')}=(\\S+)`), commandText(service('redis-exporter')), `--${flag} of redis-exporter`);
  /** `version` of a Debian binary's output, major.minor.patch. */
  const debianVersion = (command: string, pattern: RegExp): string => {
    const result = spawnSync(command, ['--version'], { encoding: 'utf8' });
    return captured(pattern, `${result.stdout}${result.stderr}`, `version in \`${command} --version\``);
  };

  test.each(['redis', 'redis-exporter'])('%s runs confined: non-root, read-only root filesystem, no capabilities, no new privileges', (name) => {
    const confined = service(name);
    expect(Number(confined.user?.split(':')[0])).toBeGreaterThan(0);
    expect(confined.read_only).toBe(true);
    expect(confined.cap_drop).toEqual(['ALL']);
    expect(confined.security_opt).toContain('no-new-privileges:true');
    expect(confined.privileged).toBeUndefined();
  });

  test("the images are the versions Debian packages, which the tests run: Redis's major and minor, the exporter's release", () => {
    const redis = captured(/^redis:(\d+\.\d+)\.\d+-alpine$/, service('redis').image ?? '', 'redis image version');
    expect(debianVersion('redis-server', /v=(\d+\.\d+)\.\d+/)).toBe(redis);
    const exporter = captured(/^oliver006\/redis_exporter:v(\d+\.\d+\.\d+)-alpine$/, service('redis-exporter').image ?? '', 'redis_exporter image version');
    expect(debianVersion('prometheus-redis-exporter', /Redis Metrics Exporter v?(\d+\.\d+\.\d+)/)).toBe(exporter);
  });

  test('Redis runs the shipped config, keeps its RDB snapshots in the redis-data volume, and reads its logins from the ACL secret', () => {
    const redis = service('redis');
    expect(commandText(redis).trim()).toBe(`redis-server ${REDIS_CONF}`);
    expect(bindMounts(redis)).toEqual([{ source: './compose/redis/redis.conf', target: REDIS_CONF, options: ['ro'] }]);
    expect(namedVolumes(redis)).toEqual([{ source: 'redis-data', target: redisSetting('dir'), options: [] }]);
    expect(redisSetting('save')).toMatch(/^\d+ \d+/);
    expect(Number(captured(/^(\d+)mb$/, redisSetting('maxmemory'), 'maxmemory in MB'))).toBeGreaterThan(0);
    expect(repoFileFor(redis, redisSetting('aclfile'))).toBe(path.join(ROOT, 'compose/demo-secrets/redis_users.acl'));
    // Neither a password in the config (requirepass) nor one on a command line.
    expect(read('compose/redis/redis.conf')).not.toMatch(/^\s*(requirepass|masterauth)\b/m);
    expect(commandText(redis)).not.toMatch(/pass/i);
  });

  test('the exporter logs in as an ACL user whose hash is that of its password file, for the address it scrapes', () => {
    const address = exporterFlag('redis.addr');
    expect(address).toBe(`redis://redis:${redisSetting('port')}`);
    // The password only from the file: no --redis.password, no REDIS_PASSWORD.
    expect(commandText(service('redis-exporter'))).not.toMatch(/--redis\.password=|redis:\/\/[^ ]*@/);
    expect(service('redis-exporter').environment).toBeUndefined();
    const passwords = JSON.parse(readFileSync(mountedFile('redis-exporter', exporterFlag('redis.password-file')), 'utf8')) as Record<string, string>;
    expect(Object.keys(passwords)).toEqual([address]);
    const password = passwords[address] ?? '';
    expect(password.length).toBeGreaterThanOrEqual(20);
    const acl = readFileSync(mountedFile('redis', redisSetting('aclfile')), 'utf8')
      .trim()
      .split('\n');
    const user = acl.find((line) => line.startsWith(`user ${exporterFlag('redis.user')} `));
    if (user === undefined) throw new Error(`compose/demo-secrets/redis_users.acl has no user ${exporterFlag('redis.user')}`);
    expect(user).toContain(` on #${createHash('sha256').update(password).digest('hex')} `);
    // Hashes only, and nothing without a login.
    expect(acl.join('\n')).not.toMatch(/ >\S/);
    expect(acl).toContainEqual(expect.stringMatching(/^user default off /));
  });

  test('Redis is on an internal network shared only with its exporter, which Prometheus reaches on monitoring', () => {
    expect(service('redis').networks).toEqual(['redis']);
    expect(compose.networks.redis).toEqual({ internal: true });
    const onRedis = Object.keys(services).filter((name) => service(name).networks?.includes('redis'));
    expect(onRedis.sort()).toEqual(['redis', 'redis-exporter']);
    expect(service('redis-exporter').networks).toEqual(['redis', 'monitoring']);
    expect(service('prometheus').networks).toContain('monitoring');
  });
});

describe('secrets: files only, demo ones only in compose/demo-secrets', () => {
  const DEMO_SECRETS = path.join(ROOT, 'compose', 'demo-secrets');

  test('every compose secret is a file; the committed defaults are in compose/demo-secrets and exist', () => {
    for (const [name, secret] of Object.entries(compose.secrets)) {
      const file = path.join(ROOT, interpolate(secret.file));
      expect([name, path.dirname(file)]).toEqual([name, DEMO_SECRETS]);
      expect([name, existsSync(file)]).toEqual([name, true]);
    }
  });

  test('every secret a service uses is declared, and every declared one is used', () => {
    const used = new Set(Object.values(services).flatMap((service) => secretNames(service).map((ref) => ref.source)));
    expect([...used].sort()).toEqual(Object.keys(compose.secrets).sort());
  });

  test('no password, key or token sits in an environment variable: only paths to files', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const [key, value] of Object.entries(service.environment ?? {})) {
        if (!/PASSWORD|SECRET|TOKEN|KEY|AUTH(?!_USERNAME)/.test(key)) continue;
        expect([name, key, String(value)]).toEqual([name, key, expect.stringMatching(/^\/(run\/secrets|etc)\//)]);
      }
    }
  });

  test('no demo secret value appears outside compose/demo-secrets', () => {
    const values = readdirSync(DEMO_SECRETS)
      .filter((file) => file !== 'README.md')
      .flatMap((file) => {
        const text = readFileSync(path.join(DEMO_SECRETS, file), 'utf8');
        // The passwords whole; of keys and hash files, a long base64 line of their body.
        return file.endsWith('_password')
          ? [text.trim()]
          : text
              .split('\n')
              .filter((line) => line.length >= 40 && !line.startsWith('-----'))
              .map((line) => line.trim());
      });
    expect(values.length).toBeGreaterThan(5);
    const scanned = [
      'compose.yaml',
      'compose.site.yaml',
      'prometheus/agent/agent.yml',
      'docs/multi-site.md',
      'Dockerfile',
      '.dockerignore',
      'scripts/smoke-compose.sh',
      'docs/compose.md',
      ...listFiles(path.join(ROOT, 'compose')).map((file) => path.relative(ROOT, file)),
    ].filter((file) => !file.startsWith(path.join('compose', 'demo-secrets')));
    for (const file of scanned) {
      const text = read(file);
      for (const value of values) expect([file, text.includes(value)]).toEqual([file, false]);
    }
  });

  test('the demo secrets say they are demo-only, in their README, compose.yaml and docs/compose.md', () => {
    expect(read('compose/demo-secrets/README.md')).toMatch(/DEMO ONLY/);
    expect(read('compose.yaml')).toMatch(/DEMO SECRETS/);
    expect(read('docs/compose.md')).toMatch(/demo-secrets/);
  });

  test('the SMTP password Alertmanager sends has no trailing newline (render-config.sh refuses one)', () => {
    const text = readFileSync(path.join(DEMO_SECRETS, 'smtp_alertmanager_password'), 'utf8');
    expect(text).toBe(text.trim());
    expect(text.length).toBeGreaterThanOrEqual(20);
  });
});

/** A config of the built-in probers: each module typed by its `prober`. */
type Config = CheckpointConfig<BuiltInModuleConfig>;
type ProberName = BuiltInModuleConfig['prober'];
/** A module of prober `P`: its section `module[P]` is typed as that prober's settings. */
type ModuleOf<P extends ProberName> = Extract<BuiltInModuleConfig, { prober: P }>;

let cachedConfig: Config | undefined;
/** compose/checkpoint.yml through the checkpoint's own loader; its secrets live in the containers. */
function checkpointConfig(): Config {
  cachedConfig ??= parseConfig(read('compose/checkpoint.yml'), 'compose/checkpoint.yml', builtInProbers, { checkSecretSources: false });
  return cachedConfig;
}
/** A module of compose/checkpoint.yml that a monitor names. */
function moduleNamed(config: Config, name: string): BuiltInModuleConfig {
  const module = config.modules[name];
  if (!module) throw new Error(`compose/checkpoint.yml has no module "${name}"`);
  return module;
}
function isModuleOf<P extends ProberName>(module: BuiltInModuleConfig, prober: P): module is ModuleOf<P> {
  return module.prober === prober;
}
/** The module `name`, which a test expects to be of `prober`; it fails saying so when it is missing or of another prober. */
function moduleOf<P extends ProberName>(config: Config, name: string, prober: P): ModuleOf<P> {
  const module = moduleNamed(config, name);
  if (!isModuleOf(module, prober)) throw new Error(`compose/checkpoint.yml: module "${name}" is a ${module.prober} module, not ${prober}`);
  return module;
}
/** Every module of `prober`. */
function modulesOf<P extends ProberName>(config: Config, prober: P): ModuleOf<P>[] {
  return Object.values(config.modules).filter((module): module is ModuleOf<P> => isModuleOf(module, prober));
}
/** The first module of `prober`; a test that needs one fails saying there is none. */
function firstModuleOf<P extends ProberName>(config: Config, prober: P): ModuleOf<P> {
  const [module] = modulesOf(config, prober);
  if (!module) throw new Error(`compose/checkpoint.yml has no ${prober} module`);
  return module;
}
/** An optional setting a test needs: it fails naming the setting when the config leaves it out. */
function setting<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`compose/checkpoint.yml sets no ${what}`);
  return value;
}

describe("compose/checkpoint.yml: the checkpoints' config", () => {
  test('loads with the checkpoint parser, and every monitor has its module', () => {
    const config = checkpointConfig();
    for (const monitor of config.monitors) expect([monitor.name, config.modules[monitor.module]?.prober]).toEqual([monitor.name, expect.any(String)]);
    // One monitor per demo target and prober, and the checkpoints themselves.
    const probers = new Set(config.monitors.map((monitor) => moduleNamed(config, monitor.module).prober));
    expect([...probers].sort()).toEqual(['browser', 'docker', 'http', 'postgres', 'sftp', 'smtp']);
    expect(config.monitors.map((monitor) => monitor.target)).toContain('http://127.0.0.1:9915/-/healthy');
  });

  test('holds no secret: every password, key and CA is a file the checkpoints have mounted', () => {
    const raw = parse(read('compose/checkpoint.yml')) as unknown;
    const files: string[] = [];
    for (const { path: at, key, value } of entries(raw)) {
      expect([at.join('.'), ['password', 'value', 'passphrase', 'bearer_token', 'insecure_skip_verify', 'insecure_skip_host_key_check'].includes(key)]).toEqual([at.join('.'), false]);
      expect([at.join('.'), key.endsWith('_env')]).toEqual([at.join('.'), false]);
      if (key.endsWith('_file')) files.push(String(value));
    }
    expect(files.length).toBeGreaterThanOrEqual(4);
    for (const name of CHECKPOINTS) {
      for (const file of files) {
        const source = repoFileFor(service(name), file);
        expect([name, file, source !== undefined && existsSync(source)]).toEqual([name, file, true]);
      }
    }
    // The checkpoints get exactly the secrets the config reads.
    const secretsRead = files.filter((file) => file.startsWith('/run/secrets/')).map((file) => path.basename(file));
    for (const name of CHECKPOINTS)
      expect(
        secretNames(service(name))
          .map((ref) => ref.target)
          .sort(),
      ).toEqual([...new Set(secretsRead)].sort());
  });

  test('every network target is a compose service, on the port that service listens on', () => {
    const config = checkpointConfig();
    const listening: Record<string, number> = { webapp: 80, postgres: 5432, sftp: 22, mailpit: 1025, grafana: 3000, 'docker-proxy': 2375, '127.0.0.1': 9915 };
    const hosts = config.monitors
      .filter((monitor) => moduleNamed(config, monitor.module).prober !== 'docker')
      .map((monitor) => new URL(monitor.target))
      .map((url) => [url.hostname, Number(url.port || { 'http:': 80, 'https:': 443 }[url.protocol])]);
    for (const module of modulesOf(config, 'docker')) {
      const url = new URL(module.docker.host);
      hosts.push([url.hostname, Number(url.port)]);
    }
    for (const [host, port] of hosts) {
      expect([host, port]).toEqual([host, listening[host as string]]);
      if (host !== '127.0.0.1') expect(Object.keys(services)).toContain(host);
    }
  });

  test('the docker monitor selects this compose project through the socket proxy', () => {
    const config = checkpointConfig();
    const monitor = config.monitors.find((m) => moduleNamed(config, m.module).prober === 'docker');
    if (!monitor) throw new Error('compose/checkpoint.yml has no docker monitor');
    expect(monitor.target).toBe(`label:com.docker.compose.project=${compose.name}`);
    expect(moduleOf(config, monitor.module, 'docker').docker.host).toBe('tcp://docker-proxy:2375');
  });

  test('the web app monitors expect what the demo page has', () => {
    const config = checkpointConfig();
    const page = read('compose/webapp/index.html');
    const title = /<title>([^<]*)<\/title>/.exec(page)?.[1];
    expect(firstModuleOf(config, 'browser').browser.steps).toEqual([{ expect_title: title }]);
    const http = moduleOf(config, 'webapp_http', 'http');
    for (const regexp of http.http.fail_if_body_not_matches_regexp) expect(page).toMatch(new RegExp(regexp));
    expect(bindMounts(service('webapp'))).toEqual([{ source: './compose/webapp', target: '/usr/share/nginx/html', options: ['ro'] }]);
  });

  test('the postgres monitor logs in as the role the demo database creates, with the same secret', () => {
    const config = checkpointConfig();
    const module = firstModuleOf(config, 'postgres');
    const passwordFile = setting(module.postgres.password_file, 'postgres.password_file');
    const init = read('compose/postgres/initdb/10-checkpoint-role.sh');
    expect(init).toContain(`CREATE ROLE ${module.postgres.user} LOGIN PASSWORD :'password'`);
    expect(init).toContain(`cat ${passwordFile}`);
    expect(secretNames(service('postgres')).map((ref) => ref.target)).toContain(path.basename(passwordFile));
    expect(bindMounts(service('postgres'))).toContainEqual({ source: './compose/postgres/initdb', target: '/docker-entrypoint-initdb.d', options: ['ro'] });
    expect(module.postgres.sslmode).toBe('disable');
  });

  test('the sftp monitor pins the demo server host key, and logs in as the user the server creates', () => {
    const config = checkpointConfig();
    const module = firstModuleOf(config, 'sftp');
    // The fingerprint of the shipped public key, as ssh-keygen -lf prints it.
    const [type, blob] = read('compose/sftp/ssh_host_ed25519_key.pub').split(' ');
    expect(type).toBe('ssh-ed25519');
    if (blob === undefined) throw new Error('compose/sftp/ssh_host_ed25519_key.pub is not "type key comment"');
    const fingerprint = `SHA256:${createHash('sha256').update(Buffer.from(blob, 'base64')).digest('base64').replace(/=+$/, '')}`;
    expect(module.sftp.host_key_fingerprints).toEqual([fingerprint]);
    // The public key is the demo private key's (ssh-keygen refuses a key file others can read).
    const dir = mkdtempSync(path.join(os.tmpdir(), 'compose-test-'));
    try {
      const key = path.join(dir, 'key');
      writeFileSync(key, read('compose/demo-secrets/sftp_host_ed25519_key'));
      chmodSync(key, 0o600);
      const derived = spawnSync('ssh-keygen', ['-y', '-f', key], { encoding: 'utf8' });
      expect(derived.stderr).toBe('');
      expect(derived.stdout.split(' ').slice(0, 2)).toEqual([type, blob]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // The server installs that key and creates that user with that password file.
    const entrypoint = read('compose/sftp/entrypoint.sh');
    const hostKeySecret = secretNames(service('sftp')).find((ref) => ref.source === 'sftp_host_ed25519_key');
    expect(entrypoint).toContain(`/run/secrets/${hostKeySecret?.target} /etc/ssh/ssh_host_ed25519_key`);
    expect(entrypoint).toContain(`useradd --create-home --shell /usr/sbin/nologin ${module.sftp.username}`);
    expect(entrypoint).toContain(`cat ${setting(module.sftp.password_file, 'sftp.password_file')}`);
    expect(entrypoint).toContain(`/home/${module.sftp.username}/${setting(module.sftp.round_trip, 'sftp.round_trip').directory}`);
    expect(captured(/^AllowUsers (.+)$/m, read('compose/sftp/sshd_config'), 'AllowUsers in compose/sftp/sshd_config').split(' ')).toContain(module.sftp.username);
  });

  test('the smtp monitor and Alertmanager log in to Mailpit with users its auth file knows, over TLS it can verify', () => {
    const config = checkpointConfig();
    const module = firstModuleOf(config, 'smtp');
    const smtpAuth = setting(module.smtp.auth, 'smtp.auth');
    const authFile = read('compose/demo-secrets/mailpit_smtp_auth').trim().split('\n');
    const users = Object.fromEntries(authFile.map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1)]));
    const alertmanagerUser = interpolate(environmentOf('alertmanager', 'SMTP_AUTH_USERNAME'));
    const logins: [string, string][] = [
      [smtpAuth.username, mountedFile('checkpoint-a', setting(smtpAuth.password_file, 'smtp.auth.password_file'))],
      [alertmanagerUser, mountedFile('alertmanager', environmentOf('alertmanager', 'SMTP_AUTH_PASSWORD_FILE'))],
    ];
    for (const [user, passwordFile] of logins) {
      const hash = users[user];
      if (hash === undefined) throw new Error(`compose/demo-secrets/mailpit_smtp_auth has no user "${user}"`);
      expect([user, hash]).toEqual([user, expect.stringMatching(/^\$apr1\$[^$]+\$/)]);
      const salt = captured(/^\$apr1\$([^$]+)\$/, hash, `apr1 salt in the hash of ${user}`);
      const password = readFileSync(passwordFile, 'utf8').trim();
      const computed = spawnSync('openssl', ['passwd', '-apr1', '-salt', salt, '-stdin'], { input: password, encoding: 'utf8' });
      expect([user, computed.stdout.trim()]).toEqual([user, hash]);
    }
    // Mailpit's certificate: for the name both connect to, from the demo CA both trust, valid for years.
    const ca = new X509Certificate(read('compose/tls/demo-ca.pem'));
    const cert = new X509Certificate(read('compose/tls/mailpit.pem'));
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.checkHost('mailpit')).toBe('mailpit');
    expect(new Date(cert.validTo).getTime()).toBeGreaterThan(Date.now() + 5 * 365 * 86400_000);
    expect(cert.checkPrivateKey(createPrivateKey(read('compose/demo-secrets/mailpit_tls_key.pem')))).toBe(true);
    expect(module.smtp.require_starttls).toBe(true);
    expect(repoFileFor(service('checkpoint-a'), setting(module.smtp.tls_config?.ca_file, 'smtp.tls_config.ca_file'))).toBe(path.join(ROOT, 'compose/tls/demo-ca.pem'));
    // Mailpit serves that certificate and key, requires STARTTLS and reads that auth file.
    const mailpit = service('mailpit');
    expect(repoFileFor(mailpit, environmentOf('mailpit', 'MP_SMTP_TLS_CERT'))).toBe(path.join(ROOT, 'compose/tls/mailpit.pem'));
    expect(repoFileFor(mailpit, environmentOf('mailpit', 'MP_SMTP_TLS_KEY'))).toBe(path.join(ROOT, 'compose/demo-secrets/mailpit_tls_key.pem'));
    expect(repoFileFor(mailpit, environmentOf('mailpit', 'MP_SMTP_AUTH_FILE'))).toBe(path.join(ROOT, 'compose/demo-secrets/mailpit_smtp_auth'));
    expect(mailpit.environment?.MP_SMTP_REQUIRE_STARTTLS).toBe('true');
    // Alertmanager trusts the demo CA through Go's SSL_CERT_DIR.
    const caDir = environmentOf('alertmanager', 'SSL_CERT_DIR');
    expect(bindMounts(service('alertmanager'))).toContainEqual({ source: './compose/tls/demo-ca.pem', target: `${caDir}/demo-ca.pem`, options: ['ro'] });
  });
});

describe('compose.yaml: postgres-exporter', () => {
  const exporter = (): Service => service('postgres-exporter');
  const init = (): string => read('compose/postgres/initdb/20-exporter-role.sh');

  test("runs Debian's version of postgres_exporter (the one the native tests run), confined like the checkpoints, publishing nothing", () => {
    const debian = spawnSync('prometheus-postgres-exporter', ['--version'], { encoding: 'utf8' });
    const version = captured(/version (\d+\.\d+\.\d+)/, `${debian.stdout}${debian.stderr}`, 'version in prometheus-postgres-exporter --version');
    expect(exporter().image).toBe(`quay.io/prometheuscommunity/postgres-exporter:v${version}`);
    expect(exporter().user).toMatch(/^\d+:\d+$/);
    expect(Number(exporter().user?.split(':')[0])).toBeGreaterThan(0);
    expect(exporter().read_only).toBe(true);
    expect(exporter().cap_drop).toEqual(['ALL']);
    expect(exporter().security_opt).toContain('no-new-privileges:true');
    expect(exporter().privileged).toBeUndefined();
    expect(exporter().ports).toBeUndefined();
  });

  test('logs in as the pg_monitor role 20-exporter-role.sh creates, with a connection limit, its password from the secret both mount', () => {
    const role = environmentOf('postgres-exporter', 'DATA_SOURCE_USER');
    expect(init()).toMatch(new RegExp(`^CREATE ROLE ${role} LOGIN PASSWORD :'password' CONNECTION LIMIT \\d+ IN ROLE pg_monitor;$`, 'm'));
    // Neither a DSN with the password in it nor the password itself: only the file's path.
    expect(Object.keys(exporter().environment ?? {}).sort()).toEqual(['DATA_SOURCE_PASS_FILE', 'DATA_SOURCE_URI', 'DATA_SOURCE_USER']);
    const passwordFile = environmentOf('postgres-exporter', 'DATA_SOURCE_PASS_FILE');
    expect(init()).toContain(`\${EXPORTER_PASSWORD_FILE:-${passwordFile}}`);
    expect(mountedFile('postgres-exporter', passwordFile)).toBe(path.join(ROOT, 'compose/demo-secrets/postgres_exporter_password'));
    expect(secretNames(service('postgres')).map((ref) => ref.target)).toContain(path.basename(passwordFile));
    // The server it logs in to is the postgres service, on a network of their own.
    expect(new URL(`postgresql://${environmentOf('postgres-exporter', 'DATA_SOURCE_URI')}`).host).toBe('postgres:5432');
  });

  test('reads the shipped queries file, mounted from the repository', () => {
    const queries = captured(/--extend\.query-path=(\S+)/, commandText(exporter()), '--extend.query-path in the command');
    expect(mountedFile('postgres-exporter', queries)).toBe(path.join(ROOT, 'compose/postgres-exporter/queries.yaml'));
  });

  test('reaches PostgreSQL on an internal network of their own, and Prometheus on monitoring; no checkpoint reaches it', () => {
    expect(compose.networks['postgres-exporter']).toEqual({ internal: true });
    const members = Object.entries(services)
      .filter(([, svc]) => svc.networks?.includes('postgres-exporter'))
      .map(([name]) => name);
    expect(members.sort()).toEqual(['postgres', 'postgres-exporter']);
    expect(exporter().networks?.sort()).toEqual(['monitoring', 'postgres-exporter']);
    for (const name of CHECKPOINTS) expect([name, exporter().networks?.filter((network) => service(name).networks?.includes(network))]).toEqual([name, []]);
  });
});

describe('prometheus.yml, grafana/ and alertmanager/ agree with compose.yaml', () => {
  const prometheus = parse(read('prometheus/prometheus.yml')) as {
    alerting: { alertmanagers: { static_configs: { targets: string[] }[] }[] };
    scrape_configs: { job_name: string; static_configs?: { targets: string[] }[]; http_sd_configs?: { url: string }[] }[];
  };
  /** The port each service listens on inside the network, from its health check (or its published container port). */
  function listenPort(name: string): number | undefined {
    const fromHealth = /127\.0\.0\.1:(\d+)\//.exec(healthcheckText(service(name)))?.[1];
    return fromHealth ? Number(fromHealth) : undefined;
  }

  test('every scrape, discovery and alerting target is a compose service on the port it listens on', () => {
    const addresses = [
      ...prometheus.scrape_configs.flatMap((job) => (job.static_configs ?? []).flatMap((config) => config.targets)),
      ...prometheus.scrape_configs.flatMap((job) => (job.http_sd_configs ?? []).map((config) => new URL(config.url).host)),
      ...prometheus.alerting.alertmanagers.flatMap((am) => am.static_configs.flatMap((config) => config.targets)),
    ];
    expect(addresses).toEqual(expect.arrayContaining(['checkpoint-a:9915', 'checkpoint-b:9915', 'alertmanager:9093', 'node-exporter:9100', 'cadvisor:8080']));
    for (const address of addresses) {
      const host = hostOf(address);
      const port = address.slice(host.length + 1);
      if (host === 'localhost') {
        expect(port).toBe(String(listenPort('prometheus')));
        continue;
      }
      expect(Object.keys(services)).toContain(host);
      expect([address, listenPort(host)]).toEqual([address, Number(port)]);
    }
    // Every checkpoint is scraped and discovered.
    const sd = prometheus.scrape_configs.flatMap((job) => (job.http_sd_configs ?? []).map((config) => new URL(config.url).hostname));
    expect(sd.sort()).toEqual(CHECKPOINTS);
  });

  test('Prometheus reads prometheus/ (its rules relative to it) and Grafana the data sources at their compose names', () => {
    expect(bindMounts(service('prometheus'))).toEqual([{ source: './prometheus', target: '/etc/prometheus', options: ['ro'] }]);
    expect(commandText(service('prometheus'))).toContain('--config.file=/etc/prometheus/prometheus.yml');
    const datasources = parse(read('grafana/provisioning/datasources/datasources.yml')) as { datasources: { url: string }[] };
    for (const source of datasources.datasources) {
      const url = new URL(source.url);
      expect([source.url, listenPort(url.hostname)]).toEqual([source.url, Number(url.port)]);
    }
  });

  test('Grafana mounts what grafana/README.md says, and reads its admin password from a secret', () => {
    const readme = read('grafana/README.md');
    const block = captured(/```yaml\n\s*volumes:\n([\s\S]*?)```/, readme, 'volumes block in grafana/README.md');
    const documented = [...block.matchAll(/- (\S+)/g)].flatMap((m) => m[1] ?? []);
    expect(documented).toEqual(['./grafana/provisioning:/etc/grafana/provisioning:ro', './grafana/dashboards:/etc/grafana/dashboards:ro']);
    for (const volume of documented) expect(service('grafana').volumes).toContain(volume);
    const password = environmentOf('grafana', 'GF_SECURITY_ADMIN_PASSWORD__FILE');
    expect(repoFileFor(service('grafana'), password)).toBe(path.join(ROOT, 'compose/demo-secrets/grafana_admin_password'));
  });

  test('the two Alertmanagers are a gossip pair, alike but for their peer and volume, and Prometheus sends to both', () => {
    const [one, two] = ['alertmanager', 'alertmanager-2'].map((name) => service(name));
    expect(commandText(one!)).toContain('--cluster.listen-address=0.0.0.0:9094 --cluster.peer=alertmanager-2:9094');
    expect(commandText(two!)).toContain('--cluster.listen-address=0.0.0.0:9094 --cluster.peer=alertmanager:9094');
    // Everything else the same: a change made to one and not the other would split the pair.
    const alike = (s: typeof one) => ({ ...s, command: commandText(s!).replace(/--cluster\.peer=\S+/, ''), volumes: namedVolumes(s!).map((v) => v.target), ports: undefined });
    expect(alike(two)).toEqual(alike(one));
    expect(namedVolumes(two!)).toContainEqual({ source: 'alertmanager-2-data', target: '/alertmanager', options: [] });
    const prometheus = parse(read('prometheus/prometheus.yml')) as { alerting: { alertmanagers: { static_configs: { targets: string[] }[] }[] } };
    expect(prometheus.alerting.alertmanagers.flatMap((am) => am.static_configs.flatMap((config) => config.targets))).toEqual(['alertmanager:9093', 'alertmanager-2:9093']);
  });

  test('Alertmanager starts through render-config.sh, as alertmanager/README.md runs it', () => {
    const am = service('alertmanager');
    expect(bindMounts(am)).toContainEqual({ source: './alertmanager', target: '/etc/alertmanager', options: ['ro'] });
    const command = commandText(am);
    expect(read('alertmanager/README.md')).toContain('sh /etc/alertmanager/render-config.sh /tmp/alertmanager');
    expect(command).toMatch(
      /sh \/etc\/alertmanager\/render-config\.sh (--allow-fewer-admins )?\/tmp\/alertmanager &&\s+exec \/bin\/alertmanager --config\.file=\/tmp\/alertmanager\/alertmanager\.yml/,
    );
    // The admins and the site's settings come from variables a user sets in .env.
    const raw = parse(read('compose.yaml')) as { services: { alertmanager: { environment: Record<string, string> } } };
    for (const key of ['ADMIN_EMAILS', 'GRAFANA_URL', 'ALERTMANAGER_URL', 'SMTP_SMARTHOST', 'SMTP_FROM', 'SMTP_AUTH_USERNAME']) {
      expect([key, variableOf(raw.services.alertmanager.environment[key])]).toEqual([key, key]);
    }
    expect(interpolate(environmentOf('alertmanager', 'SMTP_SMARTHOST'))).toBe('mailpit:1025');
  });

  test('render-config.sh renders a config from the compose environment, sending to Mailpit', () => {
    const am = service('alertmanager');
    const out = mkdtempSync(path.join(os.tmpdir(), 'compose-alertmanager-'));
    try {
      const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
      for (const [key, value] of Object.entries(am.environment ?? {})) env[key] = interpolate(String(value));
      // The container's paths, read from the repository here.
      env.SMTP_AUTH_PASSWORD_FILE = mountedFile('alertmanager', interpolate(environmentOf('alertmanager', 'SMTP_AUTH_PASSWORD_FILE')));
      // With the options compose gives it: the demo's one admin needs --allow-fewer-admins.
      const options = /render-config\.sh ((?:--\S+ )*)\/tmp\/alertmanager/.exec(commandText(am))?.[1]?.trim().split(' ').filter(Boolean) ?? [];
      const result = spawnSync('sh', [path.join(ROOT, 'alertmanager', 'render-config.sh'), ...options, out], { env, encoding: 'utf8' });
      expect(result.stderr).not.toMatch(/render-config\.sh: (?!.*alertmanager\.yml for)/);
      expect(result.status).toBe(0);
      const rendered = parse(readFileSync(path.join(out, 'alertmanager.yml'), 'utf8')) as { global: Record<string, unknown> };
      expect(rendered.global.smtp_smarthost).toBe('mailpit:1025');
      expect(rendered.global.smtp_auth_username).toBe(interpolate(environmentOf('alertmanager', 'SMTP_AUTH_USERNAME')));
      expect(rendered.global.smtp_require_tls).toBe(true);
      expect(readFileSync(path.join(out, 'templates', 'site.tmpl'), 'utf8')).toContain(interpolate(environmentOf('alertmanager', 'ADMIN_EMAILS')));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

describe('the checkpoints as a closed box: login, allowed targets, no lifecycle, networks', () => {
  type BasicAuth = { username?: string; password?: string; password_file?: string };
  type Job = { job_name: string; basic_auth?: BasicAuth; static_configs?: { targets: string[] }[]; http_sd_configs?: { url: string; basic_auth?: BasicAuth }[] };
  const prometheus = parse(read('prometheus/prometheus.yml')) as { scrape_configs: Job[] };
  const WEB_CONFIG_FLAG = /(?:^| )--web\.config\.file=(\S+)/;
  const webConfigPath = (name: string) => WEB_CONFIG_FLAG.exec(commandText(service(name)))?.[1];
  const webConfig = () => parse(read('compose/checkpoint-web.yml')) as { basic_auth_users: Record<string, string>; [key: string]: unknown };
  /** The web config's one user and its bcrypt hash. */
  const webLogin = (): [string, string] => {
    const [login, ...others] = Object.entries(webConfig().basic_auth_users);
    if (!login || others.length > 0) throw new Error('compose/checkpoint-web.yml should have exactly one user in basic_auth_users');
    return login;
  };
  /** The networks a service is on (compose's `default` when it names none). */
  const networksOf = (name: string): string[] => service(name).networks ?? ['default'];
  const shareNetwork = (a: string, b: string): string[] => networksOf(a).filter((network) => networksOf(b).includes(network));
  const CHECKPOINT_HOSTS = new Set(CHECKPOINTS);

  test('every checkpoint runs with --web.config.file, mounted read-only from compose/checkpoint-web.yml, and without --web.enable-lifecycle', () => {
    for (const name of CHECKPOINTS) {
      const file = webConfigPath(name);
      if (file === undefined) throw new Error(`compose.yaml: ${name} runs without --web.config.file`);
      expect([name, file]).toEqual([name, expect.stringMatching(/^\//)]);
      expect([name, repoFileFor(service(name), file)]).toEqual([name, path.join(ROOT, 'compose/checkpoint-web.yml')]);
      expect(bindMounts(service(name))).toContainEqual({ source: './compose/checkpoint-web.yml', target: file, options: ['ro'] });
      expect([name, commandText(service(name))]).toEqual([name, expect.not.stringContaining('--web.enable-lifecycle')]);
    }
  });

  test('the web config has only exporter-toolkit keys, and one user with a bcrypt hash of cost 10', () => {
    const config = webConfig();
    for (const key of Object.keys(config)) expect(['basic_auth_users', 'tls_server_config', 'http_server_config']).toContain(key);
    const users = Object.entries(config.basic_auth_users);
    expect(users).toHaveLength(1);
    const hash = users[0]?.[1];
    expect(hash).toMatch(/^\$2[aby]\$10\$[./A-Za-z0-9]{53}$/);
    expect(read('compose/checkpoint-web.yml')).toMatch(/DEMO ONLY/);
  });

  test('Prometheus, the health check and the checkpoint_self monitor send that user, with the demo password that matches the hash', () => {
    const [user, hash] = webLogin();
    const passwordFiles = new Set<string>();
    // Prometheus: every job and every /sd URL that asks a checkpoint.
    const checkpointJobs = prometheus.scrape_configs.filter(
      (job) =>
        (job.static_configs ?? []).some((config) => config.targets.some((target) => CHECKPOINT_HOSTS.has(hostOf(target)))) ||
        (job.http_sd_configs ?? []).some((config) => CHECKPOINT_HOSTS.has(new URL(config.url).hostname)),
    );
    expect(checkpointJobs.map((job) => job.job_name).sort()).toEqual(['checkpoint', 'probe']);
    const logins: [string, BasicAuth | undefined][] = checkpointJobs.flatMap((job) => [
      [`job ${job.job_name}`, job.basic_auth] as [string, BasicAuth | undefined],
      ...(job.http_sd_configs ?? []).map((config) => [`job ${job.job_name} ${config.url}`, config.basic_auth] as [string, BasicAuth | undefined]),
    ]);
    expect(logins.length).toBe(4);
    for (const [where, auth] of logins) {
      expect([where, auth?.username, auth?.password]).toEqual([where, user, undefined]);
      const passwordFile = auth?.password_file;
      if (passwordFile === undefined) throw new Error(`prometheus/prometheus.yml: ${where} sends no basic_auth.password_file`);
      passwordFiles.add(mountedFile('prometheus', passwordFile));
    }
    // The checkpoints' own health check reads the same secret and sends the same user.
    for (const name of CHECKPOINTS) {
      const check = healthcheckText(service(name));
      expect(check).toContain(`'${user}:'`);
      const secretPath = captured(/readFileSync\('([^']+)'/, check, `password file read in the health check of ${name}`);
      passwordFiles.add(mountedFile(name, secretPath));
    }
    // The self-monitor: a module with the same login (a module with a secret).
    const config = checkpointConfig();
    const self = config.monitors.find((monitor) => monitor.target === 'http://127.0.0.1:9915/-/healthy');
    if (!self) throw new Error('compose/checkpoint.yml has no monitor of http://127.0.0.1:9915/-/healthy');
    const auth = setting(moduleOf(config, self.module, 'http').http.basic_auth, `basic_auth in module ${self.module}`);
    expect(auth.username).toBe(user);
    const selfPasswordFile = auth.password_file;
    if (selfPasswordFile === undefined) throw new Error(`compose/checkpoint.yml: module ${self.module} sends no basic_auth.password_file`);
    for (const name of CHECKPOINTS) passwordFiles.add(mountedFile(name, selfPasswordFile));
    // One file, the demo secret, whose password is the hash's (the checkpoint trims a secret file, as Prometheus does).
    const demoPasswordFile = path.join(ROOT, 'compose/demo-secrets/checkpoint_web_password');
    expect([...passwordFiles]).toEqual([demoPasswordFile]);
    const password = readFileSync(demoPasswordFile, 'utf8');
    expect(password).toBe(password.trim());
    expect(password.length).toBeGreaterThanOrEqual(20);
    expect(bcrypt.compareSync(password, hash)).toBe(true);
    expect(bcrypt.compareSync(`${password}x`, hash)).toBe(false);
  });

  test('compose/checkpoint.yml lists in allowed_targets the compose services its monitors probe, and nothing else', () => {
    const raw = parse(read('compose/checkpoint.yml')) as {
      allowed_targets?: unknown;
      modules: Record<string, { prober: string; allowed_targets?: unknown }>;
      monitors: { module: string; target: string }[];
    };
    expect(Array.isArray(raw.allowed_targets)).toBe(true);
    const allowed = raw.allowed_targets as string[];
    // Host names only: no wildcard, CIDR, IP or URL prefix is needed by the demo.
    for (const entry of allowed) expect(entry).toMatch(/^[a-z][a-z0-9-]*$/);
    const monitored = new Set(
      raw.monitors
        .filter((monitor) => raw.modules[monitor.module]?.prober !== 'docker')
        .map((monitor) => new URL(monitor.target).hostname)
        .filter((host) => host !== '127.0.0.1'),
    );
    expect([...allowed].sort()).toEqual([...monitored].sort());
    for (const entry of allowed) expect(Object.keys(services)).toContain(entry);
    // Never the monitoring itself.
    for (const entry of allowed) expect(['prometheus', 'alertmanager', 'alertmanager-2', 'node-exporter', 'cadvisor', 'docker-proxy', ...CHECKPOINTS]).not.toContain(entry);
    // A module's own list, where there is one, is a list of strings.
    for (const [name, module] of Object.entries(raw.modules)) {
      if (module.allowed_targets === undefined) continue;
      expect([name, Array.isArray(module.allowed_targets) && module.allowed_targets.every((entry) => typeof entry === 'string')]).toEqual([name, true]);
    }
  });

  test('neither Prometheus nor Alertmanager enables its lifecycle or admin API, and nothing in the stack calls one', () => {
    for (const name of ['prometheus', 'alertmanager', 'alertmanager-2']) {
      expect([name, commandText(service(name))]).toEqual([name, expect.not.stringMatching(/--web\.enable-(lifecycle|admin-api)/)]);
    }
    for (const file of ['scripts/smoke-compose.sh', 'compose.yaml']) {
      const code = read(file)
        .split('\n')
        .filter((line) => !line.trim().startsWith('#'))
        .join('\n');
      expect([file, code]).toEqual([file, expect.not.stringMatching(/\/-\/(reload|quit)|\/api\/v1\/admin\//)]);
    }
  });

  test('every service names its networks; the checkpoints share none with Alertmanager, and only an internal one of its own with Prometheus', () => {
    for (const name of Object.keys(services)) expect([name, service(name).networks]).toEqual([name, expect.any(Array)]);
    expect(Object.keys(compose.networks)).not.toContain('default');
    const used = new Set(Object.keys(services).flatMap(networksOf));
    expect([...used].sort()).toEqual(Object.keys(compose.networks).sort());
    for (const name of CHECKPOINTS) {
      for (const am of ['alertmanager', 'alertmanager-2']) expect([name, am, shareNetwork(name, am)]).toEqual([name, am, []]);
      const withPrometheus = shareNetwork(name, 'prometheus');
      expect([name, withPrometheus]).toEqual([name, [expect.any(String)]]);
      // The one network, as asserted just above.
      for (const network of withPrometheus) {
        expect([network, compose.networks[network]]).toEqual([network, { internal: true }]);
        const members = Object.keys(services).filter((member) => networksOf(member).includes(network));
        expect([network, members.sort()]).toEqual([network, ['prometheus', ...CHECKPOINTS].sort()]);
      }
    }
  });

  test('the networks still connect what must talk: Prometheus to what it scrapes, the checkpoints to what they probe, Alertmanager to its smarthost, Grafana to Prometheus', () => {
    const prometheusTargets = [
      ...prometheus.scrape_configs.flatMap((job) => (job.static_configs ?? []).flatMap((config) => config.targets)),
      ...prometheus.scrape_configs.flatMap((job) => (job.http_sd_configs ?? []).map((config) => new URL(config.url).host)),
      ...(parse(read('prometheus/prometheus.yml')) as { alerting: { alertmanagers: { static_configs: { targets: string[] }[] }[] } }).alerting.alertmanagers.flatMap((am) =>
        am.static_configs.flatMap((config) => config.targets),
      ),
    ]
      .map(hostOf)
      .filter((host) => host !== 'localhost');
    const pairs: [string, string][] = prometheusTargets.map((host) => ['prometheus', host]);
    const config = checkpointConfig();
    for (const monitor of config.monitors) {
      if (moduleNamed(config, monitor.module).prober === 'docker') continue;
      const host = new URL(monitor.target).hostname;
      if (host !== '127.0.0.1') for (const name of CHECKPOINTS) pairs.push([name, host]);
    }
    for (const name of CHECKPOINTS) pairs.push([name, 'docker-proxy']);
    pairs.push(['alertmanager', hostOf(interpolate(environmentOf('alertmanager', 'SMTP_SMARTHOST')))]);
    const datasources = parse(read('grafana/provisioning/datasources/datasources.yml')) as { datasources: { url: string }[] };
    for (const source of datasources.datasources) pairs.push(['grafana', new URL(source.url).hostname]);
    expect(pairs.length).toBeGreaterThan(15);
    for (const [from, to] of pairs) expect([from, to, shareNetwork(from, to).length > 0]).toEqual([from, to, true]);
  });

  test('docs/compose.md says how to replace the demo login, and docs/security.md exists', () => {
    const doc = read('docs/compose.md');
    expect(doc).toContain('compose/checkpoint-web.yml');
    expect(doc).toContain('bcryptjs');
    expect(doc).toContain('CHECKPOINT_WEB_PASSWORD_FILE');
    expect(existsSync(path.join(ROOT, 'docs/security.md'))).toBe(true);
  });
});

describe('Dockerfile and .dockerignore', () => {
  const dockerfile = read('Dockerfile');
  const stages = dockerfile.split(/^(?=FROM )/m).slice(1);
  const stage = (name: string): string => {
    const found = stages.find((text) => new RegExp(`^FROM \\S+ AS ${name}$`, 'm').test(text));
    if (found === undefined) throw new Error(`the Dockerfile has no stage ${name}`);
    return found;
  };

  test('two stages: build (dev dependencies, tsc, bundle) and runtime (production dependencies, the bundle)', () => {
    expect(stages).toHaveLength(2);
    expect(stage('build')).toMatch(/^RUN npm ci\b(?!.*--omit)/m);
    expect(stage('build')).toMatch(/^RUN npm run build$/m);
    const runtime = stage('runtime');
    expect(runtime).toBe(stages[1]);
    expect(runtime).toMatch(/^RUN npm ci --omit=dev\b/m);
    expect([...runtime.matchAll(/^COPY --from=build (.+)$/gm)].map((m) => m[1])).toEqual(['/src/dist/checkpoint.js ./dist/checkpoint.js']);
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:20\.\d+\.\d+-bookworm-slim$/m);
  });

  test("the runtime stage has Debian's Chromium and fonts, and never downloads a browser", () => {
    const runtime = stage('runtime');
    expect(runtime).toMatch(/apt-get install[^\n]*\\\n\s+chromium fonts-liberation/);
    expect(runtime).toMatch(/PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1/);
    expect(runtime).toMatch(/HOME=\/tmp/);
  });

  test('runs as a non-root user, exposes 9915, checks /-/healthy, starts the CLI through its launcher', () => {
    const runtime = stage('runtime');
    const user = /^USER (\d+):(\d+)$/m.exec(runtime);
    expect(Number(user?.[1])).toBeGreaterThan(0);
    expect(runtime).toMatch(/^EXPOSE 9915$/m);
    expect(runtime).toMatch(/^HEALTHCHECK [\s\S]*http:\/\/127\.0\.0\.1:9915\/-\/healthy/m);
    expect(runtime).toMatch(/^COPY bin \.\/bin$/m);
    expect(runtime).toMatch(/^ENTRYPOINT \["\/usr\/bin\/tini", "--", "\/app\/bin\/checkpoint"\]$/m);
    expect(read('package.json')).toContain('"checkpoint": "bin/checkpoint"');
    // The launcher runs the compiled CLI that the runtime stage copies.
    expect(read('bin/checkpoint')).toMatch(/^exec node .*"\$root\/dist\/checkpoint\.js" "\$@"$/m);
  });

  test('copies nothing secret, and only what .dockerignore lets into the context', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#'));
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist', '.git', 'compose', '.env']));
    const copied = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1]?.split(' ') ?? []);
    expect(copied.length).toBeGreaterThan(3);
    for (const source of copied) {
      expect([source, existsSync(path.join(ROOT, source))]).toEqual([source, true]);
      expect([source, ignored.some((pattern) => source === pattern || source.startsWith(`${pattern}/`))]).toEqual([source, false]);
      expect(source).not.toMatch(/secret|\.env|\.pem|_key/);
    }
  });

  test("the build stage's tsc and bundle build what the Dockerfile copies, to the path the runtime stage takes", () => {
    const build = stage('build');
    const copied = [...build.matchAll(/^COPY (.+) (\S+)$/gm)].flatMap((m) => m[1]?.split(' ') ?? []);
    const context = mkdtempSync(path.join(os.tmpdir(), 'compose-image-build-'));
    try {
      for (const source of copied) cpSync(path.join(ROOT, source), path.join(context, source), { recursive: true });
      symlinkSync(path.join(ROOT, 'node_modules'), path.join(context, 'node_modules'));
      const tsc = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: context, encoding: 'utf8' });
      expect(tsc.stdout + tsc.stderr).toBe('');
      expect(tsc.status).toBe(0);
      const bundle = spawnSync(process.execPath, ['scripts/bundle.js'], { cwd: context, encoding: 'utf8' });
      expect([bundle.status, bundle.stdout + bundle.stderr]).toEqual([0, '']);
      const version = spawnSync(process.execPath, ['dist/checkpoint.js', '--version'], { cwd: context, encoding: 'utf8' });
      expect(version.stdout).toMatch(/^checkpoint, version \d+\.\d+\.\d+/);
    } finally {
      rmSync(context, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('scripts/smoke-compose.sh', () => {
  const script = read('scripts/smoke-compose.sh');

  test('is valid bash, and shellcheck finds nothing', () => {
    expect(spawnSync('bash', ['-n', path.join(ROOT, 'scripts/smoke-compose.sh')], { encoding: 'utf8' }).stderr).toBe('');
    const shellcheck = spawnSync(
      'shellcheck',
      [
        'scripts/smoke-compose.sh',
        'compose/sftp/entrypoint.sh',
        'compose/postgres/initdb/10-checkpoint-role.sh',
        'compose/postgres/initdb/20-exporter-role.sh',
        'compose/postgres/initdb/30-backup-role.sh',
        'compose/backup/backup.sh',
        'compose/backup/schedule.sh',
        'bin/checkpoint',
      ],
      {
        cwd: ROOT,
        encoding: 'utf8',
      },
    );
    expect(shellcheck.error).toBeUndefined();
    expect(shellcheck.stdout).toBe('');
    expect(shellcheck.status).toBe(0);
  });

  test('checks the dashboards Grafana has, the alert the rules have, the monitor the config has', () => {
    expect(script).toMatch(/^set -euo pipefail$/m);
    const uids = readdirSync(path.join(ROOT, 'grafana', 'dashboards')).map((file) => (JSON.parse(read(path.join('grafana', 'dashboards', file))) as { uid: string }).uid);
    const listed = captured(/^DASHBOARDS=\(([^)]*)\)$/m, script, 'DASHBOARDS=(...) in scripts/smoke-compose.sh').split(' ');
    expect(listed.sort()).toEqual(uids.sort());
    expect(read('prometheus/rules/services.yml')).toMatch(/^\s+- alert: PostgresDown$/m);
    const config = checkpointConfig();
    expect(config.monitors.find((monitor) => monitor.name === 'postgres')?.module).toBe('postgres_demo');
    expect(script).toContain("'^\\[FIRING:[0-9]+\\] PostgresDown postgres$'");
    expect(script).toContain("'^\\[RESOLVED\\] PostgresDown postgres$'");
    expect(script).toContain('stop postgres');
    expect(script).toContain('start postgres');
    // The Grafana password the script uses is the one compose gives Grafana.
    expect(script).toContain(`GRAFANA_PASSWORD_FILE=\${GRAFANA_ADMIN_PASSWORD_FILE:-${interpolate(secretFile('grafana_admin_password')).replace(/^\.\//, '')}}`);
  });
});
