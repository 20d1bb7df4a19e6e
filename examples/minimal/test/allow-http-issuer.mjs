// The test provider is plain http on 127.0.0.1, which oidcLogin() refuses unless told
// `dangerouslyAllowInsecureHttp: true`. app.ts is run as written, so this preload (node --import)
// adds that option, and nothing else, to its oidcLogin() call.
import { register } from 'node:module';

register('./allow-http-issuer-hooks.mjs', import.meta.url);
