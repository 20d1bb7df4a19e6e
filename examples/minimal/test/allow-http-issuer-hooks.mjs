const shim = new URL('./allow-http-issuer-shim.mjs', import.meta.url).href;

export async function resolve(specifier, context, next) {
  if (specifier === 'express-oidc-login' && context.parentURL !== shim) return { url: shim, shortCircuit: true };
  return next(specifier, context);
}
