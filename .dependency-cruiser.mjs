/**
 * The layers of lib/, bottom to top (docs/design.md#layers): util < options < vendors < session < flow < routes <
 * the public face (index, middleware, require-auth, context, error-handler). A layer imports only layers below
 * it; lib/types.ts (the public data shapes, types only) may be imported by all and imports nothing. Type-only
 * imports count.
 * `npm run lint` runs this (npm run deps).
 */
const FACE = '^lib/(index|middleware|require-auth|context|error-handler)\\.ts$';
const layer = (name, from, forbidden) => ({
  name,
  severity: 'error',
  from: { path: from },
  to: { path: forbidden },
});

export default {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No import cycles in lib/, type-only imports included.',
      from: { path: '^lib/' },
      to: { circular: true },
    },
    layer('util-is-the-floor', '^lib/util/', '^lib/(?!util/)'),
    layer('types-import-nothing', '^lib/types\\.ts$', '^lib/'),
    layer(
      'options-below-vendors',
      '^lib/options/',
      `^lib/(session|flow|routes|testing)/|${FACE}|^lib/vendors/(?!entra\\.ts$)`,
    ),
    layer('vendors-below-session', '^lib/vendors/', `^lib/(session|flow|routes|testing)/|${FACE}`),
    layer('session-below-flow', '^lib/session/', `^lib/(flow|routes|testing|vendors)/|${FACE}`),
    layer('flow-below-routes', '^lib/flow/', `^lib/(routes|testing)/|${FACE}`),
    layer('routes-below-the-face', '^lib/routes/', `^lib/testing/|${FACE}`),
    layer('the-engine-never-loads-the-test-kit', '^lib/(?!testing/)', '^lib/testing/'),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^lib/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
