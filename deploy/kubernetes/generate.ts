/**
 * The Kubernetes manifests of deploy/kubernetes/base (a kustomize base), written from TypeScript
 * so that the core, apps and networking objects are type-checked against Kubernetes' own API
 * types (kubernetes-types, 1.30) by `npx tsc -p tsconfig.test.json`, and the PrometheusRule is
 * built from prometheus/rules/*.yml instead of a copy that would drift from them.
 *
 * `npm run k8s:generate` rewrites the files; tests/deploy/kubernetes.test.ts generates into a
 * temporary directory and fails when the committed files differ, so edit this file, not them.
 * The checkpoints' own config (base/checkpoint.yml, base/web.yml) is written by hand, for its
 * readers, and only listed here (kustomize's configMapGenerator makes the ConfigMap of them).
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Deployment } from 'kubernetes-types/apps/v1';
import type { Container, Namespace, PodSpec, Service } from 'kubernetes-types/core/v1';
import type { ObjectMeta } from 'kubernetes-types/meta/v1';
import type { NetworkPolicy } from 'kubernetes-types/networking/v1';
import { stringify, parse } from 'yaml';

/** The namespace kustomization.yaml puts everything in; the scrape URLs below name it. */
export const NAMESPACE = 'private-checkpoint';
/** The two checkpoints, each a Deployment and a Service of this name, each its `checkpoint` label. */
export const CHECKPOINTS = ['checkpoint-a', 'checkpoint-b'] as const;
export const PORT = 9915;
/** The Secret the user creates with the checkpoints' passwords (deploy/kubernetes/README.md). */
export const CHECKPOINT_SECRET = 'checkpoint-secrets';
/** The Secret with only the login Prometheus sends (keys username, password). */
export const PROMETHEUS_LOGIN_SECRET = 'checkpoint-prometheus-login';
/** The Secret with the SMTP password and the dead man's switch URL, for Alertmanager. */
export const ALERTMANAGER_SECRET = 'checkpoint-alertmanager';
/** kustomize's configMapGenerator name for base/checkpoint.yml and base/web.yml. */
export const CONFIG_MAP = 'checkpoint-config';
/** Hand-written files of the base, listed in kustomization.yaml but not generated. */
export const HAND_WRITTEN = ['checkpoint.yml', 'web.yml'] as const;

const PART_OF = { 'app.kubernetes.io/part-of': 'private-checkpoint' };
const CHECKPOINT_POD = { 'app.kubernetes.io/name': 'checkpoint' };

// --- The Prometheus Operator's resources (monitoring.coreos.com). Only the fields used here, as
// the Operator's CRDs spell them: kubernetes-types has no CRDs.

interface SecretKeySelector {
  name: string;
  key: string;
}
interface BasicAuth {
  username: SecretKeySelector;
  password: SecretKeySelector;
}
interface RelabelConfig {
  sourceLabels?: string[];
  separator?: string;
  targetLabel?: string;
  regex?: string;
  replacement?: string;
  action?: 'replace' | 'keep' | 'drop' | 'labelmap';
}
interface RuleGroup {
  name: string;
  interval?: string;
  rules: Record<string, unknown>[];
}
export interface PrometheusRule {
  apiVersion: 'monitoring.coreos.com/v1';
  kind: 'PrometheusRule';
  metadata: ObjectMeta;
  spec: { groups: RuleGroup[] };
}
export interface ScrapeConfig {
  apiVersion: 'monitoring.coreos.com/v1alpha1';
  kind: 'ScrapeConfig';
  metadata: ObjectMeta;
  spec: {
    jobName: string;
    metricsPath?: string;
    scrapeInterval?: string;
    scrapeTimeout?: string;
    basicAuth: BasicAuth;
    staticConfigs?: { targets: string[]; labels?: Record<string, string> }[];
    httpSDConfigs?: { url: string; refreshInterval?: string; basicAuth: BasicAuth }[];
    relabelings?: RelabelConfig[];
  };
}
interface Matcher {
  name: string;
  value: string;
  matchType: '=' | '!=' | '=~' | '!~';
}
interface Route {
  receiver: string;
  matchers?: Matcher[];
  groupBy?: string[];
  groupWait?: string;
  groupInterval?: string;
  repeatInterval?: string;
  continue?: boolean;
  routes?: Route[];
}
interface EmailConfig {
  to: string;
  from: string;
  smarthost: string;
  authUsername: string;
  authPassword: SecretKeySelector;
  requireTLS: boolean;
  sendResolved: boolean;
  headers?: { key: string; value: string }[];
}
interface Receiver {
  name: string;
  emailConfigs?: EmailConfig[];
  webhookConfigs?: { urlSecret: SecretKeySelector; sendResolved: boolean; maxAlerts?: number }[];
}
export interface AlertmanagerConfig {
  apiVersion: 'monitoring.coreos.com/v1alpha1';
  kind: 'AlertmanagerConfig';
  metadata: ObjectMeta;
  spec: {
    route: Route;
    receivers: Receiver[];
    inhibitRules: { sourceMatch: Matcher[]; targetMatch: Matcher[]; equal: string[] }[];
  };
}

export type Manifest = Namespace | Deployment | Service | NetworkPolicy | PrometheusRule | ScrapeConfig | AlertmanagerConfig;

// --- The namespace: Pod Security's restricted profile is enforced there, so a Pod that loosens
// any field below is refused by the API server, not only by the tests.
function namespace(): Namespace {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: NAMESPACE,
      labels: {
        ...PART_OF,
        'pod-security.kubernetes.io/enforce': 'restricted',
        'pod-security.kubernetes.io/enforce-version': 'v1.30',
        'pod-security.kubernetes.io/warn': 'restricted',
        'pod-security.kubernetes.io/audit': 'restricted',
      },
    },
  };
}

// --- The checkpoints.

/** compose.yaml's healthcheck: /-/healthy asks for the login too, and an httpGet probe would have
 * to carry the password in its Authorization header, in the manifest. Node reads it from the
 * Secret's file instead, as compose's check does. */
const LOGGED_IN_HEALTH_CHECK = [
  'node',
  '-e',
  "const password = require('fs').readFileSync('/run/secrets/checkpoint_web_password', 'utf8').trim(); " +
    `fetch('http://127.0.0.1:${PORT}/-/healthy', { headers: { authorization: 'Basic ' + Buffer.from('prometheus:' + password).toString('base64') } })` +
    '.then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))',
];

function checkpointContainer(): Container {
  return {
    name: 'checkpoint',
    // kustomization.yaml's `images:` names the registry and tag (the image is built from the
    // Dockerfile; nothing publishes it).
    image: 'private-checkpoint',
    args: ['--config.file=/etc/checkpoint/checkpoint.yml', '--web.config.file=/etc/checkpoint/web.yml', '--log.format=json'],
    ports: [{ name: 'http', containerPort: PORT, protocol: 'TCP' }],
    // compose.yaml's limits: Chromium for two concurrent journeys, and /tmp, which is memory
    // (below) and so charged to this limit.
    resources: {
      requests: { cpu: '250m', memory: '512Mi' },
      limits: { cpu: '1', memory: '1Gi' },
    },
    securityContext: {
      runAsNonRoot: true,
      runAsUser: 10001,
      runAsGroup: 10001,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    // Ready only once it answers a logged-in /-/healthy: until then the Service sends Prometheus
    // nowhere, and CheckpointDown says so. Live as long as the port accepts: a restart for a
    // slow answer would cut the probes running, and the login check costs a node process.
    readinessProbe: { exec: { command: LOGGED_IN_HEALTH_CHECK }, periodSeconds: 15, timeoutSeconds: 5, failureThreshold: 3 },
    livenessProbe: { tcpSocket: { port: 'http' }, initialDelaySeconds: 20, periodSeconds: 15, timeoutSeconds: 5, failureThreshold: 3 },
    volumeMounts: [
      { name: 'config', mountPath: '/etc/checkpoint', readOnly: true },
      { name: 'secrets', mountPath: '/run/secrets', readOnly: true },
      { name: 'tmp', mountPath: '/tmp' },
    ],
  };
}

function checkpointPodSpec(): PodSpec {
  return {
    // The checkpoint talks to no Kubernetes API.
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    securityContext: {
      runAsNonRoot: true,
      runAsUser: 10001,
      runAsGroup: 10001,
      fsGroup: 10001,
      seccompProfile: { type: 'RuntimeDefault' },
    },
    // The two checkpoints are two views of the monitored services: in one zone, that zone's
    // outage takes both, and the rules' "confirmed from two checkpoints" with them. So one
    // checkpoint per zone: with maxSkew 1 over every checkpoint pod, the second cannot go to the
    // first one's zone while another zone has none. DoNotSchedule, not ScheduleAnyway: a pod left
    // Pending is seen (CheckpointDown pages), two pods silently sharing a zone are not. A cluster
    // with one zone is one domain, where both fit. Tainted nodes do not count as a zone's room
    // (nodeTaintsPolicy), so a zone the pod may not use never holds it Pending.
    // Across nodes too, but ScheduleAnyway: one node per zone is common, and a zone is what counts.
    topologySpreadConstraints: [
      {
        maxSkew: 1,
        topologyKey: 'topology.kubernetes.io/zone',
        whenUnsatisfiable: 'DoNotSchedule',
        nodeTaintsPolicy: 'Honor',
        labelSelector: { matchLabels: CHECKPOINT_POD },
      },
      {
        maxSkew: 1,
        topologyKey: 'kubernetes.io/hostname',
        whenUnsatisfiable: 'ScheduleAnyway',
        labelSelector: { matchLabels: CHECKPOINT_POD },
      },
    ],
    containers: [checkpointContainer()],
    volumes: [
      { name: 'config', configMap: { name: CONFIG_MAP } },
      // The Secret the user creates (README.md here): one file per key under /run/secrets, the
      // paths the config's *_file settings name, as in compose. 0440 with fsGroup: the checkpoint's
      // group reads them, nobody writes them.
      { name: 'secrets', secret: { secretName: CHECKPOINT_SECRET, defaultMode: 0o440 } },
      // compose's tmpfs: Chromium's profile and caches (HOME=/tmp) and journey screenshots.
      { name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: '512Mi' } },
    ],
  };
}

function checkpointDeployment(name: string): Deployment {
  const labels = { ...CHECKPOINT_POD, 'app.kubernetes.io/instance': name, ...PART_OF };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels },
    spec: {
      // One pod per checkpoint: each is its own view, named in every series it probes.
      replicas: 1,
      // Never two at once: both would serve the same /sd under one `checkpoint` label.
      strategy: { type: 'Recreate' },
      selector: { matchLabels: { ...CHECKPOINT_POD, 'app.kubernetes.io/instance': name } },
      template: { metadata: { labels }, spec: checkpointPodSpec() },
    },
  };
}

function checkpointService(name: string): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, labels: { ...CHECKPOINT_POD, 'app.kubernetes.io/instance': name, ...PART_OF } },
    spec: {
      selector: { ...CHECKPOINT_POD, 'app.kubernetes.io/instance': name },
      ports: [{ name: 'http', port: PORT, targetPort: 'http', protocol: 'TCP' }],
    },
  };
}

/** Where the checkpoints may connect besides DNS: the monitored services. EDIT these. */
export const MONITORED_CIDRS = ['192.0.2.0/24', '198.51.100.0/24'];

function networkPolicy(): NetworkPolicy {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'checkpoint', labels: PART_OF },
    spec: {
      podSelector: { matchLabels: CHECKPOINT_POD },
      policyTypes: ['Ingress', 'Egress'],
      // Only Prometheus, and only the checkpoint's port. The Prometheus Operator labels its
      // Prometheus pods app.kubernetes.io/name=prometheus; the namespace is the one it runs in.
      ingress: [
        {
          from: [
            {
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } },
              podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } },
            },
          ],
          ports: [{ protocol: 'TCP', port: PORT }],
        },
      ],
      // DNS (the cluster's, in kube-system), and the addresses of what the monitors probe. A
      // NetworkPolicy knows addresses, not the monitors' targets by name: these CIDRs must be
      // kept in step with checkpoint.yml by hand. The checkpoint-self monitor probes 127.0.0.1,
      // which no NetworkPolicy filters.
      egress: [
        {
          to: [
            {
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
              podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
            },
          ],
          ports: [
            { protocol: 'UDP', port: 53 },
            { protocol: 'TCP', port: 53 },
          ],
        },
        { to: MONITORED_CIDRS.map((cidr) => ({ ipBlock: { cidr } })) },
      ],
    },
  };
}

// --- For the Prometheus Operator.

const prometheusLogin: BasicAuth = {
  username: { name: PROMETHEUS_LOGIN_SECRET, key: 'username' },
  password: { name: PROMETHEUS_LOGIN_SECRET, key: 'password' },
};
const checkpointHost = (name: string): string => `${name}.${NAMESPACE}.svc:${PORT}`;

/** prometheus.yml's job "checkpoint": each checkpoint's /metrics, labelled with its name. */
function checkpointScrapeConfig(): ScrapeConfig {
  return {
    apiVersion: 'monitoring.coreos.com/v1alpha1',
    kind: 'ScrapeConfig',
    metadata: { name: 'checkpoint', labels: PART_OF },
    spec: {
      // The rules select job="checkpoint" and job="probe": the Operator's default job name
      // (scrapeConfig/<namespace>/<name>) would leave them blind. jobName needs Operator v0.75+.
      jobName: 'checkpoint',
      basicAuth: prometheusLogin,
      staticConfigs: CHECKPOINTS.map((name) => ({ targets: [checkpointHost(name)], labels: { checkpoint: name } })),
    },
  };
}

/** prometheus.yml's job "probe": every monitor of every checkpoint, found on its /sd. */
function probeScrapeConfig(): ScrapeConfig {
  return {
    apiVersion: 'monitoring.coreos.com/v1alpha1',
    kind: 'ScrapeConfig',
    metadata: { name: 'probe', labels: PART_OF },
    spec: {
      jobName: 'probe',
      metricsPath: '/probe',
      scrapeInterval: '15s',
      scrapeTimeout: '10s',
      basicAuth: prometheusLogin,
      httpSDConfigs: CHECKPOINTS.map((name) => ({ url: `http://${checkpointHost(name)}/sd`, basicAuth: prometheusLogin })),
      // prometheus.yml's, except that `checkpoint` is the host's first DNS label (the Service's
      // name), not the whole host: the URLs here are <service>.<namespace>.svc.
      relabelings: [
        { sourceLabels: ['__address__'], targetLabel: '__param_target' },
        { sourceLabels: ['__param_target'], targetLabel: 'target' },
        { sourceLabels: ['__meta_url'], regex: 'https?://([^/:.]+)[^/]*(?:/.*)?', targetLabel: 'checkpoint' },
        { sourceLabels: ['__meta_url'], regex: 'https?://([^/]+)(?:/.*)?', targetLabel: '__address__' },
        { sourceLabels: ['checkpoint', 'monitor'], separator: '/', targetLabel: 'instance' },
      ],
    },
  };
}

/** One PrometheusRule per prometheus/rules/ file, its groups as they are. */
export function prometheusRules(root: string): PrometheusRule[] {
  const dir = path.join(root, 'prometheus', 'rules');
  return readdirSync(dir)
    .filter((file) => file.endsWith('.yml'))
    .sort()
    .map((file) => {
      const { groups } = parse(readFileSync(path.join(dir, file), 'utf8')) as { groups: RuleGroup[] };
      return {
        apiVersion: 'monitoring.coreos.com/v1',
        kind: 'PrometheusRule',
        metadata: { name: `checkpoint-${path.basename(file, '.yml')}`, labels: PART_OF },
        spec: { groups },
      };
    });
}

// alertmanager/alertmanager.yml in the Operator's terms. EDIT the addresses and the smarthost.
export const ADMIN_EMAILS = ['admin@checkpoint.example'];
const SMTP = { from: 'checkpoint-alerts@checkpoint.example', smarthost: 'smtp.example.org:587', authUsername: 'checkpoint-alerts' };

const eq = (name: string, value: string): Matcher => ({ name, value, matchType: '=' });
const re = (name: string, value: string): Matcher => ({ name, value, matchType: '=~' });
const ne = (name: string, value: string): Matcher => ({ name, value, matchType: '!=' });

/** One e-mail config per admin, as render-config.sh writes them: a refused recipient fails only its copy. */
function adminEmails(sendResolved: boolean, headers?: { key: string; value: string }[]): EmailConfig[] {
  return ADMIN_EMAILS.map((to) => ({
    to,
    ...SMTP,
    authPassword: { name: ALERTMANAGER_SECRET, key: 'smtp_password' },
    requireTLS: true,
    sendResolved,
    ...(headers ? { headers } : {}),
  }));
}

function alertmanagerConfig(): AlertmanagerConfig {
  return {
    apiVersion: 'monitoring.coreos.com/v1alpha1',
    kind: 'AlertmanagerConfig',
    metadata: { name: 'checkpoint-admins', labels: PART_OF },
    spec: {
      route: {
        receiver: 'admins-warning',
        groupBy: ['alertname', 'site', 'monitor'],
        groupWait: '30s',
        groupInterval: '5m',
        repeatInterval: '12h',
        routes: [
          {
            receiver: 'deadmansswitch',
            matchers: [eq('alertname', 'Watchdog')],
            groupWait: '0s',
            groupInterval: '1m',
            repeatInterval: '5m',
            continue: true,
          },
          { receiver: 'admins-watchdog', matchers: [eq('alertname', 'Watchdog')], groupWait: '0s', repeatInterval: '48h' },
          {
            receiver: 'admins-critical',
            matchers: [eq('severity', 'critical')],
            groupWait: '10s',
            groupInterval: '30s',
            repeatInterval: '4h',
          },
          {
            receiver: 'admins-warning',
            matchers: [eq('alertname', 'MonitorFailingFromOneCheckpoint')],
            groupBy: ['alertname', 'site', 'checkpoint'],
            groupWait: '2m',
            repeatInterval: '24h',
          },
          { receiver: 'admins-warning', matchers: [eq('severity', 'warning')], groupWait: '2m', repeatInterval: '24h' },
        ],
      },
      receivers: [
        { name: 'admins-warning', emailConfigs: adminEmails(true) },
        {
          name: 'admins-critical',
          emailConfigs: adminEmails(true, [
            { key: 'Importance', value: '{{ if eq .Status "firing" }}high{{ else }}normal{{ end }}' },
            { key: 'X-Priority', value: '{{ if eq .Status "firing" }}1{{ else }}3{{ end }}' },
          ]),
        },
        // A resolved Watchdog means the path broke; "RESOLVED" would read as good news.
        { name: 'admins-watchdog', emailConfigs: adminEmails(false) },
        {
          name: 'deadmansswitch',
          webhookConfigs: [{ urlSecret: { name: ALERTMANAGER_SECRET, key: 'deadmansswitch_url' }, sendResolved: false, maxAlerts: 1 }],
        },
      ],
      // alertmanager.yml's, with the same reasons (read them there).
      inhibitRules: [
        {
          sourceMatch: [eq('alertname', 'CheckpointDown')],
          targetMatch: [ne('alertname', 'CheckpointDown'), re('checkpoint', '.+')],
          equal: ['site', 'checkpoint'],
        },
        { sourceMatch: [eq('alertname', 'SiteDown')], targetMatch: [ne('alertname', 'SiteDown'), re('site', '.+')], equal: ['site'] },
        {
          sourceMatch: [re('alertname', 'MonitorDown|PostgresDown|SMTPDown|SFTPDown|BrowserJourneyFailing')],
          targetMatch: [eq('severity', 'warning'), re('monitor', '.+')],
          equal: ['monitor'],
        },
        {
          sourceMatch: [eq('alertname', 'TLSCertificateExpiryImminent')],
          targetMatch: [eq('alertname', 'TLSCertificateExpiringSoon'), re('monitor', '.+'), re('target', '.+')],
          equal: ['monitor', 'target'],
        },
        {
          sourceMatch: [eq('alertname', 'HostDiskFillingUpFast')],
          targetMatch: [re('alertname', 'HostDiskFillingUp|HostDiskNearlyFull'), re('instance', '.+'), re('mountpoint', '.+')],
          equal: ['site', 'instance', 'mountpoint'],
        },
        {
          sourceMatch: [eq('alertname', 'HostDiskNearlyFull')],
          targetMatch: [eq('alertname', 'HostDiskFillingUp'), re('instance', '.+'), re('mountpoint', '.+')],
          equal: ['site', 'instance', 'mountpoint'],
        },
      ],
    },
  };
}

/** Every generated file of the base, by name, with its object. */
export function manifests(root: string): Map<string, Manifest> {
  const files = new Map<string, Manifest>([['namespace.yaml', namespace()]]);
  for (const name of CHECKPOINTS) {
    files.set(`deployment-${name}.yaml`, checkpointDeployment(name));
    files.set(`service-${name}.yaml`, checkpointService(name));
  }
  files.set('networkpolicy.yaml', networkPolicy());
  files.set('scrapeconfig-checkpoint.yaml', checkpointScrapeConfig());
  files.set('scrapeconfig-probe.yaml', probeScrapeConfig());
  for (const rule of prometheusRules(root)) files.set(`prometheusrule-${rule.metadata.name}.yaml`, rule);
  files.set('alertmanagerconfig.yaml', alertmanagerConfig());
  return files;
}

function kustomization(resources: string[]): Record<string, unknown> {
  return {
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    // Change it here and in the scrape URLs (generate.ts NAMESPACE) together.
    namespace: NAMESPACE,
    resources,
    // The name's hash suffix changes with the content: an edited checkpoint.yml rolls the
    // Deployments, which a config mounted in place would not (the checkpoint reloads on SIGHUP).
    configMapGenerator: [{ name: CONFIG_MAP, files: [...HAND_WRITTEN] }],
    images: [{ name: 'private-checkpoint', newName: 'registry.example.org/private-checkpoint', newTag: '0.1.0' }],
  };
}

const HEADER = '# Generated by deploy/kubernetes/generate.ts (npm run k8s:generate): edit that, not this file.\n';

/** The generated files' names and text. */
export function render(root: string): Map<string, string> {
  const objects = manifests(root);
  const out = new Map<string, string>();
  for (const [file, object] of objects) out.set(file, HEADER + stringify(object, { lineWidth: 0, aliasDuplicateObjects: false }));
  out.set('kustomization.yaml', HEADER + stringify(kustomization([...objects.keys()]), { lineWidth: 0 }));
  return out;
}

export function generate(root: string, outDir: string): string[] {
  mkdirSync(outDir, { recursive: true });
  const files = render(root);
  for (const [file, text] of files) writeFileSync(path.join(outDir, file), text);
  return [...files.keys()];
}

if (require.main === module) {
  // npm runs scripts from the repository's root.
  const root = process.cwd();
  const written = generate(root, path.join(root, 'deploy', 'kubernetes', 'base'));
  console.log(`deploy/kubernetes/base: ${written.length} files written`);
}
