/**
 * Freezes plain data (objects and arrays) and everything inside it, and returns it. What is
 * frozen already is not walked again.
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    // An index loop: stored logins are frozen once per session read, on the request path.
    const keys = Object.keys(value);
    for (let i = 0; i < keys.length; i++) deepFreeze((value as Record<string, unknown>)[keys[i]!]);
  }
  return value;
}
