/**
 * deploy/kubernetes: the committed kustomize base is what deploy/kubernetes/generate.ts writes
 * (so the two never drift; the generator's objects are type-checked against kubernetes-types by
 * tsc), every object is well formed, the checkpoints meet the restricted Pod Security profile and
 * take traffic only from Prometheus, the PrometheusRules are prometheus/rules/*.yml's groups and
 * pass Debian's promtool (check rules, and prometheus/tests' unit tests run against them), and the Alertmanager route follows alertmanager/alertmanager.yml's.
 * The checkpoints' hand-written config (base/checkpoint.yml, base/web.yml) passes the checkpoint's
 * own config checks.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Deployment } from 'kubernetes-types/apps/v1';
import type { Container, Namespace, PodSpec, Service } from 'kubernetes-types/core/v1';
import type { NetworkPolicy } from 'kubernetes-types/networking/v1';
import bcrypt from 'bcryptjs';
import { parse } from 'yaml';
import {
  CHECKPOINTS,
  CHECKPOINT_SECRET,
  CONFIG_MAP,
  HAND_WRITTEN,
  generate,
  manifests,
  type AlertmanagerConfig,
  type Manifest,
  type PrometheusRule,
  type ScrapeConfig,
} from '../../deploy/kubernetes/generate';
import { builtInProbers } from '../../src/cli/probers';
import { parseConfig } from '../../src/config/load';
import { parseWebConfig } from '../../src/server/web-config';
import { promtool } from '../support/promtool';

const ROOT = path.join(__dirname, '..', '..');
const BASE = path.join(ROOT, 'deploy', 'kubernetes', 'base');
const objects = [...manifests(ROOT).values()];
const ofKind = <T extends Manifest>(kind: string): T[] => objects.filter((object): object is T => object.kind === kind);
const deployments = ofKind<Deployment>('Deployment');
const readYaml = (file: string): unknown => parse(readFileSync(file, 'utf8'));

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(path.join(tmpdir(), 'k8s-base-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('the kustomize base', () => {
  test('the committed files are what generate.ts writes, and nothing else is there', () => {
    const written = generate(ROOT, scratch);
    for (const file of written) expect(`${file}:\n${readFileSync(path.join(BASE, file), 'utf8')}`).toBe(`${file}:\n${readFileSync(path.join(scratch, file), 'utf8')}`);
    expect(readdirSync(BASE).sort()).toEqual([...written, ...HAND_WRITTEN].sort());
  });

  test('kustomization.yaml lists every generated object file and makes the ConfigMap of the hand-written config', () => {
    const kustomization = readYaml(path.join(BASE, 'kustomization.yaml')) as { resources: string[]; configMapGenerator: { name: string; files: string[] }[]; namespace: string };
    const objectFiles = readdirSync(BASE).filter((file) => file.endsWith('.yaml') && file !== 'kustomization.yaml');
    expect([...kustomization.resources].sort()).toEqual(objectFiles.sort());
    expect(kustomization.configMapGenerator).toEqual([{ name: CONFIG_MAP, files: [...HAND_WRITTEN] }]);
    expect(kustomization.namespace).toBe('private-checkpoint');
  });

  test('every object has apiVersion, kind and a name, and leaves the namespace to kustomization.yaml', () => {
    expect(objects.length).toBeGreaterThan(10);
    for (const object of objects) {
      expect(object.apiVersion).toMatch(/^([a-z0-9.-]+\/)?v[0-9]+((alpha|beta)[0-9]+)?$/);
      expect(object.kind).toMatch(/^[A-Z][A-Za-z]+$/);
      expect(object.metadata?.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
      expect(object.metadata?.namespace).toBeUndefined();
    }
  });

  test('no Secret is in the base: the Deployments and the Operator resources only name the Secrets the user creates', () => {
    expect(objects.map((object) => object.kind)).not.toContain('Secret');
    const text = readdirSync(BASE)
      .map((file) => readFileSync(path.join(BASE, file), 'utf8'))
      .join('\n');
    expect(text).not.toMatch(/\$2[aby]\$/); // no bcrypt hash, demo or not
    expect(text).not.toMatch(/password:[ \t]*[^\s]/i); // a password key only as a SecretKeySelector
  });

  test('the namespace enforces the restricted Pod Security profile', () => {
    const [namespace] = ofKind<Namespace>('Namespace');
    expect(namespace?.metadata?.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
  });
});

describe('the checkpoints', () => {
  test('two Deployments of one replica each, a Service each, spread across zones', () => {
    expect(deployments.map((deployment) => deployment.metadata?.name)).toEqual([...CHECKPOINTS]);
    expect(ofKind<Service>('Service').map((service) => service.metadata?.name)).toEqual([...CHECKPOINTS]);
    for (const deployment of deployments) {
      expect(deployment.spec?.replicas).toBe(1);
      const spread = deployment.spec?.template.spec?.topologySpreadConstraints ?? [];
      const zones = spread.find((constraint) => constraint.topologyKey === 'topology.kubernetes.io/zone');
      expect(zones).toMatchObject({ maxSkew: 1, whenUnsatisfiable: 'DoNotSchedule' });
      // Over both checkpoints' pods, not this Deployment's only: that is what keeps them apart.
      const selector = zones?.labelSelector?.matchLabels ?? {};
      for (const other of deployments) expect(other.spec?.template.metadata?.labels).toMatchObject(selector);
    }
  });

  // https://kubernetes.io/docs/concepts/security/pod-security-standards/, baseline and restricted.
  const RESTRICTED_VOLUMES = ['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret'];
  test.each(CHECKPOINTS)('%s meets the restricted Pod Security profile, field by field', (name) => {
    const pod = deployments.find((deployment) => deployment.metadata?.name === name)?.spec?.template.spec as PodSpec;
    const containers: Container[] = [...pod.containers, ...(pod.initContainers ?? [])];
    expect(containers.length).toBeGreaterThan(0);
    expect(pod.hostNetwork ?? false).toBe(false);
    expect(pod.hostPID ?? false).toBe(false);
    expect(pod.hostIPC ?? false).toBe(false);
    expect(pod.securityContext?.sysctls ?? []).toEqual([]);
    for (const volume of pod.volumes ?? []) {
      const types = Object.keys(volume).filter((key) => key !== 'name');
      expect(types).toHaveLength(1);
      expect(RESTRICTED_VOLUMES).toEqual(expect.arrayContaining(types));
    }
    for (const container of containers) {
      const context = container.securityContext ?? {};
      expect(context.privileged ?? false).toBe(false);
      expect(context.allowPrivilegeEscalation).toBe(false);
      expect(context.runAsNonRoot ?? pod.securityContext?.runAsNonRoot).toBe(true);
      expect(context.runAsUser ?? pod.securityContext?.runAsUser).toBe(10001);
      expect((context.seccompProfile ?? pod.securityContext?.seccompProfile)?.type).toBe('RuntimeDefault');
      expect(context.capabilities?.drop).toEqual(['ALL']);
      expect(context.capabilities?.add ?? []).toEqual([]);
      expect(context.procMount ?? 'Default').toBe('Default');
      expect((container.ports ?? []).every((port) => port.hostPort === undefined)).toBe(true);
      // Beyond the profile, as compose.yaml: a read-only root, /tmp in memory with a bound, limits.
      expect(context.readOnlyRootFilesystem).toBe(true);
      const tmp = container.volumeMounts?.find((mount) => mount.mountPath === '/tmp');
      expect(pod.volumes?.find((volume) => volume.name === tmp?.name)?.emptyDir?.sizeLimit).toBeDefined();
      for (const amounts of [container.resources?.limits, container.resources?.requests]) expect(Object.keys(amounts ?? {}).sort()).toEqual(['cpu', 'memory']);
      expect(container.readinessProbe).toBeDefined();
      expect(container.livenessProbe).toBeDefined();
    }
  });

  test('the config comes from the ConfigMap and the passwords from the Secret the user creates, as files; no probe carries a password', () => {
    for (const deployment of deployments) {
      const pod = deployment.spec?.template.spec as PodSpec;
      expect(pod.volumes).toEqual(expect.arrayContaining([{ name: 'config', configMap: { name: CONFIG_MAP } }]));
      expect(pod.volumes?.find((volume) => volume.name === 'secrets')?.secret?.secretName).toBe(CHECKPOINT_SECRET);
      const [container] = pod.containers;
      expect(container?.env ?? []).toEqual([]);
      expect(container?.volumeMounts).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'secrets', mountPath: '/run/secrets', readOnly: true })]));
      expect(container?.args).toEqual(expect.arrayContaining(['--config.file=/etc/checkpoint/checkpoint.yml', '--web.config.file=/etc/checkpoint/web.yml']));
      for (const probe of [container?.readinessProbe, container?.livenessProbe]) expect(probe?.httpGet).toBeUndefined();
      expect(container?.readinessProbe?.exec?.command?.join(' ')).toContain('/run/secrets/checkpoint_web_password');
    }
  });

  test('the NetworkPolicy lets in only Prometheus, on the checkpoint port, and lets out only DNS and the listed CIDRs', () => {
    const [policy, ...others] = ofKind<NetworkPolicy>('NetworkPolicy');
    expect(others).toEqual([]);
    expect(policy?.spec?.policyTypes).toEqual(['Ingress', 'Egress']);
    for (const deployment of deployments) expect(deployment.spec?.template.metadata?.labels).toMatchObject(policy?.spec?.podSelector.matchLabels ?? { never: 'empty' });
    expect(policy?.spec?.ingress).toHaveLength(1);
    const [ingress] = policy?.spec?.ingress ?? [];
    expect(ingress?.ports).toEqual([{ protocol: 'TCP', port: 9915 }]);
    expect(ingress?.from).toHaveLength(1);
    // Both selectors in one peer (AND): Prometheus pods in the monitoring namespace, not any pod there.
    expect(ingress?.from?.[0]).toEqual({
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } },
      podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } },
    });
    // A rule without `to` would let out to anywhere.
    for (const rule of policy?.spec?.egress ?? []) expect(rule.to?.length).toBeGreaterThan(0);
    const peers = (policy?.spec?.egress ?? []).flatMap((rule) => rule.to ?? []);
    for (const peer of peers) {
      if (peer.ipBlock) expect(peer.ipBlock.cidr).not.toBe('0.0.0.0/0');
      else expect(peer.podSelector?.matchLabels).toEqual({ 'k8s-app': 'kube-dns' });
    }
    const dns = policy?.spec?.egress?.find((rule) => rule.to?.some((peer) => peer.podSelector));
    expect(dns?.ports?.map((port) => port.port)).toEqual([53, 53]);
  });

  test('base/checkpoint.yml passes the checkpoint config check, and base/web.yml does once its placeholder is a bcrypt hash', () => {
    // The secret files are the Secret's, in the pod: what they hold is not checked here.
    const config = parseConfig(readFileSync(path.join(BASE, 'checkpoint.yml'), 'utf8'), 'checkpoint.yml', builtInProbers, { checkSecretSources: false });
    expect(config.monitors.map((monitor) => monitor.name)).toContain('checkpoint-self');
    const web = readFileSync(path.join(BASE, 'web.yml'), 'utf8');
    // Shipped as it is, it is refused: no checkpoint starts with a login nobody chose.
    expect(() => parseWebConfig(web, 'web.yml')).toThrow(/bcrypt/);
    const hash = bcrypt.hashSync('a password', 4);
    expect(parseWebConfig(web.replace(/REPLACE-\S+/, hash), 'web.yml').basic_auth_users).toEqual({ prometheus: hash });
  });
});

describe('for the Prometheus Operator', () => {
  const rules = ofKind<PrometheusRule>('PrometheusRule');
  const ruleFiles = readdirSync(path.join(ROOT, 'prometheus', 'rules')).filter((file) => file.endsWith('.yml'));

  test('the PrometheusRules hold prometheus/rules/*.yml groups, unchanged, one object per file', () => {
    expect(rules).toHaveLength(ruleFiles.length);
    const fromFiles = ruleFiles.sort().flatMap((file) => (readYaml(path.join(ROOT, 'prometheus', 'rules', file)) as { groups: unknown[] }).groups);
    expect(rules.flatMap((rule) => rule.spec.groups)).toEqual(fromFiles);
    // As committed too (the YAML written, read back), not only as generated.
    const committed = rules.flatMap((rule) => (readYaml(path.join(BASE, `prometheusrule-${rule.metadata.name}.yaml`)) as PrometheusRule).spec.groups);
    expect(committed).toEqual(fromFiles);
  });

  test('promtool check rules accepts the committed PrometheusRules, written out as rule files', async () => {
    const files = rules.map((rule) => {
      const committed = readYaml(path.join(BASE, `prometheusrule-${rule.metadata.name}.yaml`)) as PrometheusRule;
      const file = path.join(scratch, `${rule.metadata.name}.rules.yml`);
      writeFileSync(file, JSON.stringify({ groups: committed.spec.groups }));
      return file;
    });
    const output = await promtool(['check', 'rules', ...files]);
    expect(output.match(/SUCCESS/g)).toHaveLength(files.length);
  });

  test("prometheus/tests' promtool unit tests pass against the committed PrometheusRules, every alert firing as from the rule files", async () => {
    // The same layout as prometheus/: tests/*.test.yml load ../rules/<file>.yml, here written
    // from each committed PrometheusRule (checkpoint-<file>) instead of the rule file itself.
    mkdirSync(path.join(scratch, 'unit', 'rules'), { recursive: true });
    mkdirSync(path.join(scratch, 'unit', 'tests'), { recursive: true });
    for (const rule of rules) {
      const committed = readYaml(path.join(BASE, `prometheusrule-${rule.metadata.name}.yaml`)) as PrometheusRule;
      writeFileSync(path.join(scratch, 'unit', 'rules', `${(rule.metadata.name ?? '').replace(/^checkpoint-/, '')}.yml`), JSON.stringify({ groups: committed.spec.groups }));
    }
    const tests = readdirSync(path.join(ROOT, 'prometheus', 'tests')).filter((file) => file.endsWith('.test.yml'));
    expect(tests.length).toBeGreaterThan(0);
    for (const file of tests) copyFileSync(path.join(ROOT, 'prometheus', 'tests', file), path.join(scratch, 'unit', 'tests', file));
    const output = await promtool(['test', 'rules', ...tests.map((file) => path.join(scratch, 'unit', 'tests', file))]);
    expect(output.match(/SUCCESS/g)).toHaveLength(tests.length);
  });

  test('the scrape configs are prometheus.yml jobs checkpoint and probe: same job names, /sd of each checkpoint, a checkpoint label on every target', () => {
    const scrapes = ofKind<ScrapeConfig>('ScrapeConfig');
    expect(scrapes.map((scrape) => scrape.spec.jobName).sort()).toEqual(['checkpoint', 'probe']);
    const own = scrapes.find((scrape) => scrape.spec.jobName === 'checkpoint');
    expect(own?.spec.staticConfigs?.map((group) => group.labels?.checkpoint)).toEqual([...CHECKPOINTS]);
    const probe = scrapes.find((scrape) => scrape.spec.jobName === 'probe');
    expect(probe?.spec.metricsPath).toBe('/probe');
    expect(probe?.spec.httpSDConfigs?.map((sd) => sd.url)).toEqual(CHECKPOINTS.map((name) => `http://${name}.private-checkpoint.svc:9915/sd`));
    for (const sd of probe?.spec.httpSDConfigs ?? []) expect(sd.basicAuth.password.name).not.toBe(CHECKPOINT_SECRET);
    // The relabelling's checkpoint regex gives the Service's name from each /sd URL (RE2 and
    // JavaScript agree on this pattern; Prometheus anchors it).
    const rule = probe?.spec.relabelings?.find((relabel) => relabel.targetLabel === 'checkpoint');
    for (const sd of probe?.spec.httpSDConfigs ?? []) expect(new RegExp(`^(?:${rule?.regex})$`).exec(sd.url)?.[1]).toMatch(/^checkpoint-[ab]$/);
    expect(probe?.spec.relabelings?.map((relabel) => relabel.targetLabel)).toEqual(['__param_target', 'target', 'checkpoint', '__address__', 'instance']);
  });

  test('the AlertmanagerConfig routes as alertmanager/alertmanager.yml does, the SMTP password from a Secret', () => {
    type AmRoute = { receiver: string; matchers?: string[]; group_by?: string[]; group_wait?: string; group_interval?: string; repeat_interval?: string; continue?: boolean; routes?: AmRoute[] };
    const original = (readYaml(path.join(ROOT, 'alertmanager', 'alertmanager.yml')) as { route: AmRoute }).route;
    const [config] = ofKind<AlertmanagerConfig>('AlertmanagerConfig');
    const route = config?.spec.route;
    expect(route).toMatchObject({
      receiver: original.receiver,
      groupBy: original.group_by,
      groupWait: original.group_wait,
      groupInterval: original.group_interval,
      repeatInterval: original.repeat_interval,
    });
    expect(
      route?.routes?.map((child) => ({
        receiver: child.receiver,
        matchers: child.matchers?.map((matcher) => `${matcher.name}${matcher.matchType}"${matcher.value}"`),
        group_by: child.groupBy,
        group_wait: child.groupWait,
        group_interval: child.groupInterval,
        repeat_interval: child.repeatInterval,
        continue: child.continue,
      })),
    ).toEqual(original.routes?.map((child) => ({ group_by: undefined, group_wait: undefined, group_interval: undefined, repeat_interval: undefined, continue: undefined, ...child })));
    const receivers = config?.spec.receivers ?? [];
    expect(receivers.map((receiver) => receiver.name).sort()).toEqual(['admins-critical', 'admins-warning', 'admins-watchdog', 'deadmansswitch']);
    for (const email of receivers.flatMap((receiver) => receiver.emailConfigs ?? [])) {
      expect(email.authPassword).toEqual({ name: 'checkpoint-alertmanager', key: 'smtp_password' });
      expect(email.requireTLS).toBe(true);
    }
    expect(config?.spec.inhibitRules).toHaveLength((readYaml(path.join(ROOT, 'alertmanager', 'alertmanager.yml')) as { inhibit_rules: unknown[] }).inhibit_rules.length);
  });
});

describe('the docs', () => {
  const guide = readFileSync(path.join(ROOT, 'deploy', 'kubernetes', 'README.md'), 'utf8');

  test('README.md points at the Kubernetes guide, which says how to apply the base', () => {
    expect(readFileSync(path.join(ROOT, 'README.md'), 'utf8')).toContain('](deploy/kubernetes/README.md)');
    expect(guide).toContain('kubectl apply -k deploy/kubernetes/base');
  });

  test('the guide creates every Secret the manifests name, with every key they read', () => {
    const text = readdirSync(BASE)
      .filter((file) => file.endsWith('.yaml'))
      .map((file) => readFileSync(path.join(BASE, file), 'utf8'))
      .join('\n');
    const selectors = [...text.matchAll(/name: (\S+)\n\s+key: (\S+)/g)].map(([, name, key]) => ({ name, key }));
    expect(selectors.length).toBeGreaterThan(3);
    const secrets = new Set([...selectors.map((selector) => selector.name), CHECKPOINT_SECRET]);
    for (const secret of secrets) expect(guide).toContain(`create secret generic ${secret}`);
    for (const { key } of selectors) expect(guide).toMatch(new RegExp(`--from-(file|literal)=${key}=`));
    expect(guide).toContain('--from-file=checkpoint_web_password=');
  });
});
