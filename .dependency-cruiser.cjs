/**
 * The layers of `up`, in one direction: lib < queues < handlers | gateway < schedulers < cli.
 * A module may import its own layer and the layers below it, never above, never sideways
 * between handlers and gateway, and no two modules may import each other in a cycle
 * (type-only imports aside: they vanish at run time). `npm run lint:layers` checks it.
 */
const layer = (name, below) => ({ name, below });
const LAYERS = [
  layer('lib', []),
  layer('queues', ['lib']),
  layer('handlers', ['lib', 'queues']),
  layer('gateway', ['lib', 'queues']),
  layer('schedulers', ['lib', 'queues', 'gateway']),
  layer('cli', ['lib', 'queues', 'handlers', 'gateway', 'schedulers']),
];
const ALL = LAYERS.map((l) => l.name);

module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'Modules that import each other at run time: one of them holds what both need, or the two are one concept.',
      from: { path: `^(${ALL.join('|')})/` },
      to: { circular: true, dependencyTypesNot: ['type-only'], viaOnly: { dependencyTypesNot: ['type-only', 'dynamic-import'] } },
    },
    ...LAYERS.map((l) => ({
      name: `${l.name}-imports-only-below`,
      severity: 'error',
      comment: `${l.name}/ may import ${l.below.length ? l.below.join(', ') : 'nothing of the project'} (and itself): lib < queues < handlers | gateway < schedulers < cli.`,
      from: { path: `^${l.name}/` },
      to: { path: `^(${ALL.filter((n) => n !== l.name && !l.below.includes(n)).join('|')})/` },
    })),
    {
      name: 'handlers-never-load-the-database-or-http-server',
      severity: 'error',
      comment: 'Handler processes touch neither PostgreSQL nor fastify (DESIGN: stateless, DB-free handlers).',
      from: { path: '^handlers/' },
      to: { path: 'node_modules/(knex|pg|knex-pglite|@electric-sql/pglite|fastify|@fastify/[^/]+)/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'handlers-reach-no-database-code',
      severity: 'error',
      comment: "Not even through lib: lib/db is the control plane's.",
      from: { path: '^handlers/' },
      to: { path: '^lib/db/', dependencyTypesNot: ['type-only'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist|test|bench|scripts|\\.scratch)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    moduleSystems: ['es6'],
  },
};
