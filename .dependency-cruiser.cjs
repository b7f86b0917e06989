/**
 * The layers of docs/architecture.md, checked on every `npm test` (`npm run layers`):
 *
 *   surfaces (src/cli) -> src/api -> src/engine -> contract <- backends (src/backends/{sqlite,redis,postgres})
 *   src/pool apart (the engine uses it); shared leaf modules anyone may import.
 *
 * The contract is src/backends/*.ts: backend.ts and its record types, descriptor.ts, and
 * registry.ts, the one module that knows the concrete backends (through their descriptors).
 * Each rule's `comment` is what an offender reads: what to do instead.
 */
const SURFACES = '^src/(cli|server)/';
const API = '^src/api/';
const ENGINE = '^src/engine/';
const POOL = '^src/pool/';
/** deflow/workestrator: Workestrator's API, a front end of the pool (nothing else of deflow). */
const POOL_FRONT = '^src/workestrator/';
const CONTRACT = '^src/backends/[^/]+[.]ts$';
const REGISTRY = '^src/backends/registry[.]ts$';
const BACKENDS = '^src/backends/(sqlite|redis|postgres)/';
const ENTRY = '^src/index[.]ts$';
/** Modules with no layer: they import nothing of deflow but each other, and anyone may import them. */
const SHARED = ['^src/(errors|clock|fault-points|option-checks)[.]ts$', '^src/backends/sql-files[.]ts$'];

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    // A cycle of static imports loads in an order where some module of it runs before another
    // finished: its classes are undefined at load time. Type-only imports (erased) and import()
    // (run when called, after loading) do not take part in it.
    {
      name: 'no-circular',
      severity: 'error',
      comment:
        'This import closes a cycle of modules that import each other at load time. Move what both need into a module of ' +
        'its own, pass it in (a parameter, an interface), or import it only as a type.',
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only', 'dynamic-import'] } },
    },
    // Outside the api, even type-only cycles tangle modules that should be read one at a time.
    // The api's public classes name each other in their signatures (a StepHandler's methods take
    // a Step, Step.addAfter takes a StepHandler, WorkFlow.getSteps() returns Steps and
    // Step.getWorkflow() a WorkFlow): there, only cycles at load time are errors (no-circular).
    {
      name: 'no-circular-types',
      severity: 'error',
      comment:
        'This import closes a cycle of modules (type imports included). Put the types both sides need in a module of ' +
        'their own, or describe what one side needs as an interface where it is used.',
      from: { pathNot: API },
      to: { circular: true },
    },
    // Surfaces are the top: they are run, never imported.
    {
      name: 'nothing-imports-surfaces',
      severity: 'error',
      comment: 'Nothing imports the CLI: move what you need from it into src/api (or a shared module) and import it from there.',
      from: { pathNot: SURFACES },
      to: { path: SURFACES },
    },
    // Surfaces use the public api; the engine, the pool and the concrete backends are behind it.
    {
      name: 'surfaces-use-the-api',
      severity: 'error',
      comment:
        'A surface talks to deflow through src/api (or src/index.ts), and picks backends through src/backends/registry.ts: ' +
        'add what you need there instead of reaching into the engine, the pool or a backend.',
      from: { path: SURFACES },
      to: { path: [ENGINE, POOL, BACKENDS] },
    },
    // The api knows backends only through the registry, so adding a backend never touches it.
    {
      name: 'api-uses-the-registry',
      severity: 'error',
      comment:
        'The api does not import a concrete backend: choose one with src/backends/registry.ts, and give the registry ' +
        '(or the backend\'s descriptor) what you need.',
      from: { path: [API, ENTRY] },
      to: { path: BACKENDS },
    },
    // The engine runs on the contract alone; the layers above it use the engine, not the reverse.
    {
      name: 'engine-below-the-api',
      severity: 'error',
      comment:
        'The engine imports neither the api, the CLI nor a concrete backend: take what it needs as a parameter or an ' +
        'interface (see src/engine/types.ts, ViewFactory) or put it in the backend contract.',
      from: { path: ENGINE },
      to: { path: [API, SURFACES, BACKENDS] },
    },
    // The contract is what both sides agree on: it cannot depend on either side.
    {
      name: 'contract-stays-below',
      severity: 'error',
      comment:
        'The backend contract (src/backends/*.ts) imports no layer above it and no worker pool: move the code that needs ' +
        'them up, into the engine or the api.',
      from: { path: CONTRACT },
      to: { path: [API, ENGINE, SURFACES, POOL] },
    },
    // Only the registry knows the concrete backends, and only their descriptors: choosing a
    // backend must not load a driver (SQLite users never load ioredis or pg).
    {
      name: 'registry-knows-descriptors-only',
      severity: 'error',
      comment:
        'Only src/backends/registry.ts imports a backend, and only its descriptor (index.ts): export what you need from ' +
        'the descriptor, and load the implementation in its create().',
      from: { path: CONTRACT },
      to: { path: BACKENDS, pathNot: '^src/backends/(sqlite|redis|postgres)/index[.]ts$' },
    },
    {
      name: 'only-the-registry-knows-backends',
      severity: 'error',
      comment: 'Only src/backends/registry.ts imports a concrete backend from the contract: pick backends through it.',
      from: { path: CONTRACT, pathNot: REGISTRY },
      to: { path: BACKENDS },
    },
    // Every process loads the three descriptors and their configs (the registry imports them):
    // at load time they import only their own config, the contract, shared modules and Node's
    // own modules; the implementation and its driver come through import() in create().
    {
      name: 'descriptors-stay-light',
      severity: 'error',
      comment:
        "A backend's index.ts and config.ts load in every process, whatever backend it uses: import the implementation " +
        'or a driver with import() inside create(), or as a type only.',
      from: { path: '^src/backends/(sqlite|redis|postgres)/(index|config)[.]ts$' },
      to: {
        pathNot: ['^src/backends/$1/config[.]ts$', CONTRACT, ...SHARED],
        dependencyTypesNot: ['type-only', 'dynamic-import', 'core'],
      },
    },
    // A backend is a plug-in of the contract: it knows the contract, not its users or its siblings.
    {
      name: 'backends-stand-alone',
      severity: 'error',
      comment:
        'A concrete backend imports only the contract (src/backends/*.ts, not the registry), shared modules and its own ' +
        'files: put what two backends share in the contract, and what the engine or api should know in the contract types.',
      from: { path: BACKENDS },
      to: { path: [API, ENGINE, SURFACES, POOL, REGISTRY] },
    },
    {
      name: 'backends-do-not-import-each-other',
      severity: 'error',
      comment: 'A backend does not import another one: move what they share into src/backends/ (the contract) or a shared module.',
      from: { path: '^src/backends/(sqlite|redis|postgres)/' },
      to: { path: BACKENDS, pathNot: '^src/backends/$1/' },
    },
    // The pool is published on its own (deflow/pool).
    {
      name: 'pool-stands-apart',
      severity: 'error',
      comment: 'src/pool is also published alone as deflow/pool: it imports only itself and shared modules (src/errors.ts).',
      from: { path: POOL },
      to: { path: '^src/', pathNot: [POOL, ...SHARED] },
    },
    {
      name: 'only-the-engine-uses-the-pool',
      severity: 'error',
      comment: 'Only the engine runs work on the pool (and src/index.ts re-exports it): go through the engine.',
      from: { pathNot: [POOL, ENGINE, ENTRY, POOL_FRONT] },
      to: { path: POOL },
    },
    // deflow/workestrator is the pool with Workestrator's API: it knows nothing of workflows.
    {
      name: 'workestrator-is-a-pool-front-end',
      severity: 'error',
      comment: 'src/workestrator adapts the pool to Workestrator\'s API: it may use src/pool and shared modules only.',
      from: { path: POOL_FRONT },
      to: { path: '^src/', pathNot: [POOL, POOL_FRONT, ...SHARED] },
    },
    {
      name: 'nothing-imports-workestrator',
      severity: 'error',
      comment: 'src/workestrator is an entry point of the package (deflow/workestrator); nothing inside deflow imports it.',
      from: { pathNot: POOL_FRONT },
      to: { path: POOL_FRONT },
    },
    // Shared modules are leaves: importing a layer would make every user of them depend on it.
    {
      name: 'shared-modules-are-leaves',
      severity: 'error',
      comment: 'A shared module (errors, clock, fault points, option checks, SQL files) imports only other shared modules: keep it that way, or move the code into a layer.',
      from: { path: SHARED },
      to: { path: '^src/', pathNot: SHARED },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    // Type-only imports are dependencies too: a layer may not even name another's types.
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
