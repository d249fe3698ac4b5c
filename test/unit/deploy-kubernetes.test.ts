import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import * as keda from '@kubernetes-models/keda/keda.sh/v1alpha1';
import * as apps from 'kubernetes-models/apps/v1';
import * as policy from 'kubernetes-models/policy/v1';
import * as core from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../../lib/config.ts';
import { operations, selectOperations } from '../../queues/catalogue.ts';
import { opQueue } from '../../queues/topology.ts';
import { deployFiles } from '../../scripts/deploy-manifests.ts';

/**
 * deploy/kubernetes as `kubectl apply -k` would take it: every object valid against the
 * Kubernetes and KEDA schemas (kubernetes-models bundles them), every operation consumed by a
 * handler pool scaled on its queue, and the security an SRE's admission policy asks for.
 */
const DIR = new URL('../../deploy/kubernetes/', import.meta.url);
type Obj = { apiVersion: string; kind: string; metadata: { name: string }; [key: string]: any };

const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml'));
const documents = (file: string): Obj[] =>
  parseAllDocuments(readFileSync(new URL(file, DIR), 'utf8')).map((doc) => {
    assert.deepEqual(doc.errors, [], file);
    return doc.toJSON() as Obj;
  });
const applied = ['up.yaml', 'handlers.yaml'].flatMap(documents);
const all = files.filter((f) => f !== 'kustomization.yaml').flatMap(documents);
const ofKind = (kind: string) => applied.filter((o) => o.kind === kind);

/** The schema of each apiVersion/kind, from kubernetes-models and @kubernetes-models/keda. */
const MODELS: Record<string, Record<string, unknown>> = { v1: core, 'apps/v1': apps, 'policy/v1': policy, 'keda.sh/v1alpha1': keda };
function validate(object: Obj): void {
  const Model = MODELS[object.apiVersion]?.[object.kind] as (new (data: Obj) => { validate(): void }) | undefined;
  assert.ok(Model, `no schema for ${object.apiVersion} ${object.kind}`);
  new Model(object).validate();
}

const podSpec = (d: Obj) => d.spec.template.spec;
const containersOf = (d: Obj): any[] => [...(podSpec(d).initContainers ?? []), ...podSpec(d).containers];
const handlerPools = () => ofKind('Deployment').filter((d) => podSpec(d).containers[0].args[0] === 'handler');
const envOf = (c: any): Record<string, string> => Object.fromEntries((c.env ?? []).map((e: any) => [e.name, e.value]));

test('the manifests are what scripts/deploy-manifests.ts writes from the catalogue', () => {
  for (const [path, content] of Object.entries(deployFiles())) {
    assert.equal(
      readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8'),
      content,
      `${path} is out of date: run node --import tsx scripts/deploy-manifests.ts`,
    );
  }
});

test('every object validates against the Kubernetes and KEDA schemas', () => {
  assert.ok(all.length >= 20, `${all.length} objects`);
  for (const object of all) {
    try {
      validate(object);
    } catch (error) {
      assert.fail(`${object.kind} ${object.metadata.name}: ${(error as Error).message}`);
    }
  }
});

test('the validator really rejects bad objects (so a pass means something)', () => {
  const pool = structuredClone(handlerPools()[0]);
  const scaled = structuredClone(ofKind('ScaledObject')[0]);
  const bad: [Obj, RegExp][] = [
    [{ ...pool, spec: { ...pool.spec, replicas: 'two' } }, /replicas must be integer/],
    [{ ...pool, spec: { ...pool.spec, selector: undefined } }, /required property 'selector'|must have required property selector/],
    [
      {
        ...pool,
        spec: {
          ...pool.spec,
          template: {
            ...pool.spec.template,
            spec: { ...podSpec(pool), containers: [{ ...podSpec(pool).containers[0], ports: [{ containerPort: 'metrics' }] }] },
          },
        },
      },
      /containerPort must be integer/,
    ],
    [{ ...scaled, spec: { ...scaled.spec, minReplicaCount: 'x' } }, /minReplicaCount must be integer/],
    [{ ...scaled, spec: { ...scaled.spec, triggers: [{ metadata: { queueName: 'q' } }] } }, /type/],
  ];
  for (const [object, message] of bad) assert.throws(() => validate(object), message);
});

test('every operation of the catalogue is consumed by a handler pool', () => {
  const consumed = new Map<string, string[]>();
  for (const pool of handlerPools()) {
    for (const op of selectOperations(podSpec(pool).containers[0].args.slice(1)))
      consumed.set(op.name, [...(consumed.get(op.name) ?? []), pool.metadata.name]);
  }
  const missing = operations.filter((op) => !consumed.has(op.name)).map((op) => op.name);
  assert.deepEqual(missing, [], 'operations no pool consumes would wait for good');
  assert.ok(handlerPools().length >= 7, 'pools by operation family, not one for everything');
});

test('each pool scales with KEDA on the length of exactly its queues, and sets no replicas of its own', () => {
  const auth = new Set(ofKind('TriggerAuthentication').map((t) => t.metadata.name));
  for (const pool of handlerPools()) {
    assert.equal(pool.spec.replicas, undefined, `${pool.metadata.name}: KEDA owns replicas`);
    const scaled = ofKind('ScaledObject').filter((s) => s.spec.scaleTargetRef.name === pool.metadata.name);
    assert.equal(scaled.length, 1, `${pool.metadata.name} has one ScaledObject`);
    const { spec } = scaled[0];
    assert.ok(spec.minReplicaCount >= 1 && spec.maxReplicaCount > spec.minReplicaCount);
    const queues = selectOperations(podSpec(pool).containers[0].args.slice(1)).map((op) => opQueue(op.name));
    assert.deepEqual(spec.triggers.map((t: any) => t.metadata.queueName).sort(), queues.sort());
    for (const trigger of spec.triggers) {
      assert.equal(trigger.type, 'rabbitmq');
      assert.equal(trigger.metadata.mode, 'QueueLength');
      assert.match(trigger.metadata.value, /^\d+$/);
      assert.ok(auth.has(trigger.authenticationRef.name), `TriggerAuthentication ${trigger.authenticationRef.name} exists`);
    }
  }
});

test('every pod: non-root, read-only root with a writable /tmp, no capabilities, RuntimeDefault seccomp, resources, a pinned image', () => {
  for (const d of ofKind('Deployment')) {
    const spec = podSpec(d);
    const where = d.metadata.name;
    assert.equal(spec.securityContext.runAsNonRoot, true, where);
    assert.ok(spec.securityContext.runAsUser > 0, where);
    assert.equal(spec.securityContext.seccompProfile.type, 'RuntimeDefault', where);
    assert.equal(spec.automountServiceAccountToken, false, `${where}: no API token in the pod`);
    for (const c of containersOf(d)) {
      const at = `${where}/${c.name}`;
      assert.equal(c.securityContext.allowPrivilegeEscalation, false, at);
      assert.equal(c.securityContext.readOnlyRootFilesystem, true, at);
      assert.deepEqual(c.securityContext.capabilities.drop, ['ALL'], at);
      assert.ok(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.memory, `${at}: resources`);
      assert.match(c.image, /:[0-9][\w.-]*$/, `${at}: a version tag`);
      assert.doesNotMatch(c.image, /:latest$/, at);
      const tmp = (c.volumeMounts ?? []).find((m: any) => m.mountPath === '/tmp');
      if (!c.command) {
        // up runs TypeScript through tsx, which caches compiled modules in /tmp.
        assert.ok(tmp && !tmp.readOnly, `${at}: a writable /tmp`);
        assert.ok(spec.volumes.find((v: any) => v.name === tmp.name).emptyDir, `${at}: /tmp is an emptyDir`);
      }
    }
  }
});

test('every role has liveness and readiness probes on a port it declares; handlers on their metrics port', () => {
  for (const d of ofKind('Deployment')) {
    const c = podSpec(d).containers[0];
    const ports = new Set(c.ports.map((p: any) => p.name));
    for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
      assert.ok(c[probe]?.httpGet, `${d.metadata.name}: ${probe}`);
      assert.ok(ports.has(c[probe].httpGet.port), `${d.metadata.name}: ${probe} on a declared port`);
    }
    assert.ok(ports.has('metrics'), `${d.metadata.name} serves /metrics on its own port`);
    assert.equal(
      d.spec.template.metadata.annotations['prometheus.io/port'],
      String(c.ports.find((p: any) => p.name === 'metrics').containerPort),
    );
  }
  const config = ofKind('ConfigMap').find((m) => m.metadata.name === 'up-config')!;
  assert.equal(config.data.UP_METRICS_HOST, '0.0.0.0');
  assert.ok(Number(config.data.UP_METRICS_PORT) > 0);
});

test('the gateway has a Service for its API alone (no /metrics through it), and believes X-Forwarded-For from the ingress', () => {
  const gateway = ofKind('Deployment').find((d) => podSpec(d).containers[0].args[0] === 'gateway')!;
  const services = ofKind('Service');
  assert.equal(services.length, 1);
  const [service] = services;
  assert.deepEqual(service.spec.selector, gateway.spec.selector.matchLabels);
  assert.deepEqual(
    service.spec.ports.map((p: any) => p.targetPort),
    ['http'],
  );
  const env = envOf(podSpec(gateway).containers[0]);
  assert.ok(env.UP_TRUST_PROXY, 'UP_TRUST_PROXY is set: behind a load balancer every caller would share one address');
  // The values the manifests set pass up's own configuration checks.
  const config = loadConfig({
    ...env,
    ...(ofKind('ConfigMap')[0].data as Record<string, string>),
    UP_ADMIN_TOKEN_FILE: '',
    UP_DATABASE_URL_FILE: '',
    UP_AMQP_URL_FILE: '',
  });
  assert.ok(config.trustProxy.length > 0);
  assert.deepEqual(config.metrics, { host: '0.0.0.0', port: 9470 });
});

test('secrets reach each role as files, only the ones it needs; no secret value in any env', () => {
  const secretNames = new Set(documents('secrets.example.yaml').map((s) => s.metadata.name));
  for (const d of ofKind('Deployment')) {
    for (const c of containersOf(d)) {
      for (const e of c.env ?? []) {
        assert.doesNotMatch(
          e.name,
          /^UP_(ADMIN_TOKEN|DATABASE_URL|AMQP_URL|ALARM_SMTP_URL|ALARM_WEBHOOK_URL)$/,
          `${d.metadata.name}: ${e.name} as a plain value`,
        );
        assert.equal(e.valueFrom, undefined, `${d.metadata.name}: ${e.name} from a secret into the environment`);
        if (/_FILE$|^UP_TSIG_KEYS_DIR$/.test(e.name)) {
          assert.ok(
            (c.volumeMounts ?? []).some((m: any) => e.value.startsWith(`${m.mountPath}/`) || e.value === m.mountPath),
            `${d.metadata.name}: ${e.name} lies in a mounted volume`,
          );
        }
      }
    }
    for (const v of podSpec(d).volumes.filter((v: any) => v.secret))
      assert.ok(secretNames.has(v.secret.secretName), `secret ${v.secret.secretName} is in secrets.example.yaml`);
  }
  const roleEnv = (args0: string) =>
    envOf(podSpec(ofKind('Deployment').find((d) => podSpec(d).containers[0].args[0] === args0)!).containers[0]);
  assert.ok(roleEnv('gateway').UP_ADMIN_TOKEN_FILE);
  for (const role of ['recorder', 'scheduler']) assert.equal(roleEnv(role).UP_ADMIN_TOKEN_FILE, undefined, `${role} has no admin token`);
  // Handlers never open the database, reach hosts over SSH, and sign DNS with TSIG.
  for (const pool of handlerPools()) {
    const ops = selectOperations(podSpec(pool).containers[0].args.slice(1)).map((op) => op.name);
    const env = envOf(podSpec(pool).containers[0]);
    assert.equal(env.UP_DATABASE_URL_FILE, undefined, `${pool.metadata.name} has no database`);
    assert.ok(env.UP_AMQP_URL_FILE);
    if (ops.some((op) => !op.startsWith('system.'))) assert.ok(env.UP_SSH_KEY_FILE, `${pool.metadata.name}: UP_SSH_KEY_FILE`);
    const tsig = ['dns.zone.create', 'dns.records.apply', 'dns.zone.verify', 'cert.issue', 'host.prepare', 'health.check.dns-zone'];
    if (ops.some((op) => tsig.includes(op))) {
      assert.ok(env.UP_TSIG_KEYS_DIR, `${pool.metadata.name}: UP_TSIG_KEYS_DIR`);
      assert.ok(
        podSpec(pool).initContainers?.some((c: any) => c.command?.join(' ').includes('install -m 0600')),
        'TSIG keys copied 0600 (handlers refuse group-readable keys)',
      );
    }
  }
});

test('uploaded archives: one ReadWriteMany volume shared by the gateway and the website.deploy pool at UP_CONTENT_DIR', () => {
  const [claim] = ofKind('PersistentVolumeClaim');
  assert.deepEqual(claim.spec.accessModes, ['ReadWriteMany']);
  const deployers = ofKind('Deployment').filter((d) => {
    const args = podSpec(d).containers[0].args;
    return args[0] === 'gateway' || (args[0] === 'handler' && selectOperations(args.slice(1)).some((op) => op.name === 'website.deploy'));
  });
  assert.equal(deployers.length, 2);
  for (const d of deployers) {
    const c = podSpec(d).containers[0];
    const volume = podSpec(d).volumes.find((v: any) => v.persistentVolumeClaim?.claimName === claim.metadata.name);
    assert.ok(volume, `${d.metadata.name} mounts the content volume`);
    assert.equal(c.volumeMounts.find((m: any) => m.name === volume.name).mountPath, envOf(c).UP_CONTENT_DIR);
  }
});

test('kustomization applies the manifests, not the secret examples', () => {
  const [kustomization] = documents('kustomization.yaml');
  assert.deepEqual(kustomization.resources, ['up.yaml', 'handlers.yaml']);
  assert.equal(all.filter((o) => o.kind === 'Secret').length, 3);
  assert.equal(applied.filter((o) => o.kind === 'Secret').length, 0);
});
