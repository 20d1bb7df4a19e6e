import { jest } from '@jest/globals';

/**
 * Fakes only the clock (Date), so that sockets and timers keep working; `jest.useRealTimers()`
 * (in an afterEach) puts it back.
 */
export function fakeClock(): { advance(seconds: number): void } {
  let now = Date.now();
  jest.useFakeTimers({
    now,
    doNotFake: [
      'nextTick',
      'setImmediate',
      'clearImmediate',
      'setTimeout',
      'clearTimeout',
      'setInterval',
      'clearInterval',
      'queueMicrotask',
      'hrtime',
      'performance',
    ],
  });
  return {
    advance(seconds: number) {
      now += seconds * 1000;
      jest.setSystemTime(now);
    },
  };
}
