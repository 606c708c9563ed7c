/**
 * compose.site.yaml (a site: a checkpoint, node-exporter and a Prometheus agent that pushes to the
 * central place) and the central place's side of it in compose.yaml (the remote-write receiver
 * and its gateway), checked without Docker as compose.test.ts checks compose.yaml:
 *   - Compose Specification keys only, images pinned (the same versions as compose.yaml's), a
 *     health check on every service, every repository mount present and read-only;
 *   - a closed site: no published port, the checkpoint confined as in compose.yaml, the agent
 *     read-only and the only service with a way out, the scrape network internal;
 *   - secrets only from files, the defaults in compose/demo-secrets, none in the environment;
 *   - the agent renders prometheus/agent/agent.yml from compose's environment (promtool accepts
 *     the result) and scrapes exactly the site's services; render-config.sh refuses what it must;
 *   - compose/site/checkpoint.yml loads with the checkpoint's parser and reads only its secrets;
 *   - the gateway mounts compose/central/remote-write-gateway.conf and the files it names, lets
 *     through only logged-in POSTs to Prometheus's /api/v1/write, and the demo login, password,
 *     certificate and CA agree.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { builtInProbers } from '../../src/cli/probers';
import { parseConfig } from '../../src/config/load';
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

const site = parse(read('compose.site.yaml'), { merge: true }) as Compose;
const central = parse(read('compose.yaml'), { merge: true }) as Compose;

function serviceOf(compose: Compose, name: string, file: string): Service {
  const found = compose.services[name];
  if (!found) throw new Error(`${file} has no service "${name}"`);
  return found;
}
const service = (name: string): Service => serviceOf(site, name, 'compose.site.yaml');
/** The environment a service gets with compose's defaults, and `required` for the variables compose.site.yaml makes the user set. */
function environmentOf(name: string, required: Record<string, string>): Record<string, string> {
  const environment: Record<string, string> = {};
  for (const [key, value] of Object.entries(service(name).environment ?? {})) {
    const text = String(value);
    const variable = /^\$\{([A-Z0-9_]+):\?/.exec(text)?.[1];
    environment[key] = variable ? (required[variable] ?? '') : interpolate(text);
  }
  return environment;
}
/** The repository file mounted at `containerPath` in a service of compose.site.yaml (a bind mount or a secret), or undefined. */
const repoFileFor = (svc: Service, containerPath: string): string | undefined => repoFileIn(ROOT, site, svc, containerPath);

describe('compose.site.yaml: services, images, health checks', () => {
  test('a checkpoint, node-exporter and the agent, in a project of its own', () => {
    expect(Object.keys(site.services).sort()).toEqual(['agent', 'checkpoint-1', 'node-exporter']);
    expect(site.name).toBe('private-checkpoint-site');
    expect(site.name).not.toBe(central.name);
  });

  test('uses only keys of the Compose Specification', () => {
    const raw = parse(read('compose.site.yaml')) as Record<string, unknown>;
    expect(Object.keys(raw).sort()).toEqual(['name', 'networks', 'secrets', 'services', 'volumes']);
    for (const [name, svc] of Object.entries(site.services)) {
      for (const key of Object.keys(svc)) expect([name, key, SERVICE_KEYS.has(key)]).toEqual([name, key, true]);
      for (const key of Object.keys(svc.healthcheck ?? {})) expect([name, key, HEALTHCHECK_KEYS.has(key)]).toEqual([name, key, true]);
      for (const [dependency, condition] of Object.entries((svc.depends_on ?? {}) as Record<string, { condition: string }>)) {
        expect(Object.keys(site.services)).toContain(dependency);
        expect(['service_started', 'service_healthy']).toContain(condition.condition);
      }
    }
    for (const secret of Object.values(site.secrets)) expect(Object.keys(secret)).toEqual(['file']);
  });

  test('every image is pinned, to the version compose.yaml runs; the checkpoint is the image compose.yaml builds', () => {
    const centralImages = new Set(Object.values(central.services).map((svc) => svc.image));
    for (const [name, svc] of Object.entries(site.services)) {
      if (svc.build) {
        expect([name, svc.build, svc.image]).toEqual([name, '.', serviceOf(central, 'checkpoint-a', 'compose.yaml').image]);
        continue;
      }
      expect([name, svc.image]).toEqual([name, expect.stringMatching(PINNED_IMAGE)]);
      expect([name, centralImages.has(svc.image)]).toEqual([name, true]);
    }
  });

  test('every service has a health check that asks the service itself', () => {
    for (const [name, svc] of Object.entries(site.services)) {
      expect([name, Array.isArray(svc.healthcheck?.test) && svc.healthcheck.test[0]]).toEqual([name, 'CMD']);
      expect([name, svc.healthcheck?.interval]).toEqual([name, expect.stringMatching(/^\d+s$/)]);
    }
    expect(healthcheckText(service('checkpoint-1'))).toBe(healthcheckText(serviceOf(central, 'checkpoint-a', 'compose.yaml')));
    expect(healthcheckText(service('node-exporter'))).toContain('http://127.0.0.1:9100/metrics');
    expect(healthcheckText(service('agent'))).toContain('http://127.0.0.1:9090/-/healthy');
  });

  test("every service has a memory, CPU and process limit, the checkpoint's as compose.yaml's", () => {
    type Limited = { mem_limit?: string; cpus?: number; pids_limit?: number };
    for (const [name, svc] of Object.entries(site.services) as [string, Limited][]) {
      expect([name, svc.mem_limit]).toEqual([name, expect.stringMatching(/^\d+[mg]$/)]);
      expect([name, typeof svc.cpus === 'number' && svc.cpus > 0]).toEqual([name, true]);
      expect([name, typeof svc.pids_limit === 'number' && svc.pids_limit >= 32]).toEqual([name, true]);
    }
    const central = (parse(read('compose.yaml'), { merge: true }) as { services: Record<string, Limited> }).services['checkpoint-a'];
    const checkpoint = site.services['checkpoint-1'] as Limited;
    expect([checkpoint.mem_limit, checkpoint.cpus, checkpoint.pids_limit]).toEqual([central?.mem_limit, central?.cpus, central?.pids_limit]);
  });

  test('the agent keeps its WAL in a named volume, at the path it is told', () => {
    expect(namedVolumes(service('agent'))).toEqual([{ source: 'agent-data', target: '/prometheus', options: [] }]);
    expect(Object.keys(site.volumes)).toEqual(['agent-data']);
    expect(commandText(service('agent'))).toContain('--storage.agent.path=/prometheus');
  });
});

describe('compose.site.yaml: a closed site', () => {
  test('publishes no port and exposes nothing: no connection comes into the site', () => {
    const raw = read('compose.site.yaml');
    for (const [name, svc] of Object.entries(site.services)) {
      expect([name, svc.ports]).toEqual([name, undefined]);
      expect([name, Object.keys(svc)]).toEqual([name, expect.not.arrayContaining(['expose', 'network_mode', 'extra_hosts'])]);
    }
    expect(raw).not.toMatch(/^\s*(ports|expose):/m);
  });

  test('the checkpoint runs confined as in compose.yaml: same user, read-only, tmpfs, no capabilities, no lifecycle', () => {
    const checkpoint = service('checkpoint-1');
    const reference = serviceOf(central, 'checkpoint-a', 'compose.yaml');
    for (const key of ['user', 'read_only', 'tmpfs', 'cap_drop', 'security_opt'] as const) expect([key, checkpoint[key]]).toEqual([key, reference[key]]);
    expect(commandText(checkpoint)).toContain('--web.config.file=/etc/checkpoint/web.yml');
    expect(commandText(checkpoint)).not.toContain('--web.enable-lifecycle');
    expect(checkpoint.privileged).toBeUndefined();
  });

  test('the agent runs read-only, without capabilities, as the image user, listening on its own loopback', () => {
    const agent = service('agent');
    expect(agent.read_only).toBe(true);
    expect(agent.cap_drop).toEqual(['ALL']);
    expect(agent.security_opt).toContain('no-new-privileges:true');
    expect(agent.user).toBeUndefined();
    expect(commandText(agent)).toContain('--web.listen-address=127.0.0.1:9090');
    expect(commandText(agent)).not.toMatch(/--web\.enable-(lifecycle|admin-api)/);
  });

  test('the scrape network is internal, and only the agent has a way out', () => {
    expect(site.networks.scrape).toEqual({ internal: true });
    const on = (network: string): string[] =>
      Object.entries(site.services)
        .filter(([, svc]) => svc.networks?.includes(network))
        .map(([name]) => name)
        .sort();
    expect(on('outbound')).toEqual(['agent']);
    expect(on('scrape')).toEqual(['agent', 'checkpoint-1', 'node-exporter']);
    expect(on('probes')).toEqual(['checkpoint-1']);
    for (const [name, svc] of Object.entries(site.services)) expect([name, svc.networks?.length]).toEqual([name, expect.any(Number)]);
  });

  test('every bind mount from the repository exists and is read-only; only node-exporter reads the host', () => {
    for (const [name, svc] of Object.entries(site.services)) {
      for (const mount of bindMounts(svc)) {
        if (mount.source.startsWith('/')) {
          expect([name, mount.source, mount.options[0]]).toEqual(['node-exporter', '/', 'ro']);
          continue;
        }
        expect([name, mount.source, existsSync(path.join(ROOT, mount.source))]).toEqual([name, mount.source, true]);
        expect([name, mount.source, mount.options]).toEqual([name, mount.source, ['ro']]);
      }
    }
  });
});

describe('compose.site.yaml: secrets', () => {
  test('every secret is a file whose default is in compose/demo-secrets; each is used', () => {
    for (const [name, secret] of Object.entries(site.secrets)) {
      const file = path.join(ROOT, interpolate(secret.file));
      expect([name, path.dirname(file), existsSync(file)]).toEqual([name, path.join(ROOT, 'compose', 'demo-secrets'), true]);
      expect([name, secret.file]).toEqual([name, expect.stringMatching(/^\$\{[A-Z0-9_]+_FILE:-/)]);
    }
    const used = new Set(Object.values(site.services).flatMap((svc) => secretNames(svc).map((ref) => ref.source)));
    expect([...used].sort()).toEqual(Object.keys(site.secrets).sort());
  });

  test('no password, key or token sits in an environment variable: only paths to files', () => {
    for (const [name, svc] of Object.entries(site.services)) {
      for (const [key, value] of Object.entries(svc.environment ?? {})) {
        if (!/PASSWORD|SECRET|TOKEN|KEY/.test(key)) continue;
        expect([name, key, String(value)]).toEqual([name, key, expect.stringMatching(/^\/(run\/secrets|etc)\//)]);
      }
    }
  });

  test('compose/site/checkpoint.yml loads with the checkpoint parser and reads only files the checkpoint has', () => {
    const config = parseConfig(read('compose/site/checkpoint.yml'), 'compose/site/checkpoint.yml', builtInProbers, { checkSecretSources: false });
    for (const monitor of config.monitors) expect([monitor.name, config.modules[monitor.module]?.prober]).toEqual([monitor.name, expect.any(String)]);
    const files: string[] = [];
    for (const { path: at, key, value } of entries(parse(read('compose/site/checkpoint.yml')) as unknown)) {
      expect([at.join('.'), ['password', 'passphrase', 'bearer_token'].includes(key) || key.endsWith('_env')]).toEqual([at.join('.'), false]);
      if (key.endsWith('_file')) files.push(String(value));
    }
    for (const file of files) expect([file, existsSync(repoFileFor(service('checkpoint-1'), file) ?? '')]).toEqual([file, true]);
  });
});

describe('compose.site.yaml: the agent', () => {
  const agent = service('agent');
  /** render-config.sh run on the agent's own environment, with `required` for the variables the user sets; the config file's text, or the refusal. */
  function render(required: Record<string, string>, change: (environment: Record<string, string>) => void = () => undefined): { code: number | null; output: string; config: string } {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'agent-render-'));
    try {
      const environment = environmentOf('agent', required);
      // The files the agent's environment names, from what compose mounts there.
      for (const key of ['REMOTE_WRITE_PASSWORD_FILE', 'REMOTE_WRITE_CA_FILE']) {
        const source = repoFileFor(agent, environment[key] ?? '');
        if (!source) throw new Error(`compose.site.yaml: the agent has nothing mounted at ${environment[key] ?? `(no ${key})`}`);
        environment[key] = source;
      }
      change(environment);
      const result = spawnSync(
        '/usr/bin/env',
        ['-i', 'PATH=/usr/bin:/bin', ...Object.entries(environment).map(([key, value]) => `${key}=${value}`), 'sh', path.join(ROOT, 'prometheus/agent/render-config.sh'), dir],
        { encoding: 'utf8', timeout: 20_000 },
      );
      const file = path.join(dir, 'agent.yml');
      return { code: result.status, output: `${result.stdout}${result.stderr}`, config: existsSync(file) ? readFileSync(file, 'utf8') : '' };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const demo = { SITE: 'demo-site', REMOTE_WRITE_URL: 'https://remote-write:443/api/v1/write' };

  test('starts through render-config.sh, then Prometheus in agent mode on the rendered file', () => {
    expect(commandText(agent)).toMatch(
      /^\/bin\/sh -c sh \/etc\/prometheus-agent\/render-config\.sh \/tmp\/agent && exec \/bin\/prometheus --enable-feature=agent --config\.file=\/tmp\/agent\/agent\.yml /,
    );
    expect(bindMounts(agent)).toContainEqual({ source: './prometheus/agent', target: '/etc/prometheus-agent', options: ['ro'] });
    expect(agent.tmpfs).toEqual([expect.stringMatching(/^\/tmp(:|$)/)]);
  });

  test("sets every variable the template uses; SITE and REMOTE_WRITE_URL are the user's to set", () => {
    const used = new Set([...read('prometheus/agent/agent.yml').matchAll(/\$\{([A-Z_]+)\}/g)].map((match) => match[1]));
    expect(Object.keys(agent.environment ?? {}).sort()).toEqual([...used].sort());
    for (const key of ['SITE', 'REMOTE_WRITE_URL']) expect([key, String(agent.environment?.[key])]).toEqual([key, expect.stringMatching(new RegExp(`^\\$\\{${key}:\\?.+\\}$`))]);
  });

  test('renders a config that promtool accepts, labelled with the site, sending over TLS with the mounted login and CA', () => {
    const rendered = render(demo);
    expect([rendered.code, rendered.output]).toEqual([0, expect.stringContaining('for site demo-site')]);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'agent-check-'));
    try {
      writeFileSync(path.join(dir, 'agent.yml'), rendered.config);
      const check = spawnSync('promtool', ['check', 'config', '--syntax-only', path.join(dir, 'agent.yml')], { encoding: 'utf8', timeout: 60_000 });
      expect([check.status, `${check.stdout}${check.stderr}`]).toEqual([0, expect.stringContaining('SUCCESS')]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const config = parse(rendered.config) as {
      global: { external_labels: Record<string, string> };
      remote_write: { url: string; basic_auth: { username: string; password_file: string }; tls_config: { ca_file: string } }[];
      scrape_configs: { job_name: string; basic_auth?: { password_file: string }; static_configs?: { targets: string[]; labels?: Record<string, string> }[]; http_sd_configs?: { url: string }[] }[];
    };
    expect(config.global.external_labels).toEqual({ site: 'demo-site' });
    const [remote] = config.remote_write;
    expect(remote?.url).toBe(demo.REMOTE_WRITE_URL);
    // The username defaults to the site's name: the gateway's htpasswd has one line per site.
    expect(remote?.basic_auth.username).toBe('demo-site');
    // Each job reaches a service of the site, on its port; the checkpoint with the secret the agent has.
    const targets = Object.fromEntries(
      config.scrape_configs.map((job) => [job.job_name, [...(job.static_configs ?? []).flatMap((g) => g.targets), ...(job.http_sd_configs ?? []).map((sd) => sd.url)]]),
    );
    expect(targets).toEqual({ checkpoint: ['checkpoint-1:9915'], probe: ['http://checkpoint-1:9915/sd'], node: ['node-exporter:9100'], agent: ['localhost:9090'] });
    for (const job of config.scrape_configs.filter((j) => j.basic_auth)) expect([job.job_name, repoFileFor(agent, job.basic_auth!.password_file)]).toEqual([job.job_name, expect.any(String)]);
    expect(secretNames(agent).map((ref) => ref.target)).toContain('checkpoint_web_password');
  });

  test.each([
    ['SITE missing', { SITE: '' }, /SITE is not set/],
    ['a site name with a space', { SITE: 'berlin office' }, /SITE=berlin office: only letters/],
    ['a plain-http URL', { REMOTE_WRITE_URL: 'http://remote-write/api/v1/write' }, /must be an https:\/\/ URL/],
    ['a quote in the URL', { REMOTE_WRITE_URL: 'https://remote-write/"x' }, /REMOTE_WRITE_URL holds a quote/],
    ['a password file that cannot be read', { REMOTE_WRITE_PASSWORD_FILE: '/nonexistent/password' }, /REMOTE_WRITE_PASSWORD_FILE=\/nonexistent\/password cannot be read/],
  ])('render-config.sh refuses %s, naming it, and writes nothing', (_what, override, message) => {
    const rendered = render(demo, (environment) => Object.assign(environment, override));
    expect(rendered.code).not.toBe(0);
    expect(rendered.output).toMatch(message);
    expect(rendered.config).toBe('');
  });
});

describe("compose.yaml: the central place's receiver", () => {
  const prometheus = serviceOf(central, 'prometheus', 'compose.yaml');
  const gateway = serviceOf(central, 'remote-write-gateway', 'compose.yaml');
  const conf = read('compose/central/remote-write-gateway.conf');
  const centralFile = (svc: Service, containerPath: string): string | undefined => repoFileIn(ROOT, central, svc, containerPath);

  test('Prometheus receives remote writes and accepts a site catching up as late as the agent keeps samples', () => {
    expect(commandText(prometheus)).toContain('--web.enable-remote-write-receiver');
    const keeps = /--storage\.agent\.retention\.max-time=(\S+)/.exec(commandText(service('agent')))?.[1];
    for (const file of ['prometheus/prometheus.yml', 'prometheus/central.yml']) {
      const config = parse(read(file)) as { storage?: { tsdb?: { out_of_order_time_window?: string } } };
      expect([file, config.storage?.tsdb?.out_of_order_time_window]).toEqual([file, keeps]);
    }
  });

  test('the gateway serves the shipped server block, with the certificate, key and logins it names', () => {
    expect(bindMounts(gateway)).toContainEqual({ source: './compose/central/remote-write-gateway.conf', target: '/etc/nginx/conf.d/default.conf', options: ['ro'] });
    for (const directive of ['ssl_certificate', 'ssl_certificate_key', 'auth_basic_user_file']) {
      const file = new RegExp(`^\\s*${directive} (\\S+);`, 'm').exec(conf)?.[1] ?? '';
      expect([directive, existsSync(centralFile(gateway, file) ?? '')]).toEqual([directive, true]);
    }
    expect(gateway.networks).toEqual(['monitoring']);
    expect(prometheus.networks).toContain('monitoring');
  });

  test('only logged-in POSTs to /api/v1/write reach Prometheus, at its compose name and port', () => {
    const locations = [...conf.matchAll(/location (=?\s*\S+) \{([^]*?)\n {4}\}/g)].map((match) => ({ path: match[1], body: match[2] ?? '' }));
    expect(locations.map((location) => location.path)).toEqual(['= /api/v1/write', '= /healthz', '/']);
    const write = locations[0]!.body;
    expect(write).toMatch(/limit_except POST \{\s*deny all;\s*\}/);
    expect(write).toMatch(/auth_basic "[^"]+";/);
    expect(write).toContain('set $prometheus prometheus:9090;');
    expect(write).toContain('proxy_pass http://$prometheus/api/v1/write;');
    expect(conf.match(/^\s*proxy_pass /gm)).toHaveLength(1);
    expect(conf).toMatch(/listen 443 ssl;/);
    expect(conf).toMatch(/ssl_protocols TLSv1\.2 TLSv1\.3;/);
  });

  test('the demo login, password, certificate and CA agree, and a site trusts that CA by default', () => {
    const [user, hash] = read('compose/demo-secrets/remote_write_htpasswd').trim().split(':');
    const salt = /^\$6\$([^$]+)\$/.exec(hash ?? '')?.[1] ?? '';
    const password = read('compose/demo-secrets/remote_write_password');
    expect(password).not.toMatch(/\n$/);
    const again = spawnSync('openssl', ['passwd', '-6', '-salt', salt, '-stdin'], { input: password, encoding: 'utf8' });
    expect([user, again.stdout.trim()]).toEqual(['demo-site', hash]);
    const verify = spawnSync('openssl', ['verify', '-CAfile', path.join(ROOT, 'compose/tls/central-ca.pem'), path.join(ROOT, 'compose/tls/remote-write.pem')], { encoding: 'utf8' });
    expect(`${verify.stdout}${verify.stderr}`).toContain(': OK');
    const publicKey = (args: string[]): string => spawnSync('openssl', args, { encoding: 'utf8' }).stdout;
    expect(publicKey(['pkey', '-pubout', '-in', path.join(ROOT, 'compose/demo-secrets/remote_write_tls_key.pem')])).toBe(
      publicKey(['x509', '-pubkey', '-noout', '-in', path.join(ROOT, 'compose/tls/remote-write.pem')]),
    );
    expect(bindMounts(service('agent'))).toContainEqual({ source: './compose/tls/central-ca.pem', target: '/etc/central-ca/ca.pem', options: ['ro'] });
  });
});
