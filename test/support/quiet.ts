// oidc-provider prints development notices (dev interactions, default TTLs) on every start;
// they are about the test provider, not about the code under test.
for (const level of ['info', 'warn'] as const) {
  const original = console[level].bind(console);
  console[level] = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && args[0].startsWith('oidc-provider ')) return;
    original(...args);
  };
}
