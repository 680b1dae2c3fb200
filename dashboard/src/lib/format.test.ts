import { describe, expect, it } from 'vitest';
import { formatRelative, tidyFailure } from './format';

describe('format', () => {
  it('says how far off a time is, rounding up', () => {
    const now = Date.parse('2026-11-27T18:00:00Z');
    expect(formatRelative('2026-11-27T18:00:45Z', now)).toBe('in 45s');
    expect(formatRelative('2026-11-27T18:01:30Z', now)).toBe('in 2m');
    expect(formatRelative('2026-11-27T19:05:00Z', now)).toBe('in 1h 5m');
    expect(formatRelative('2026-11-27T17:59:00Z', now)).toBe('now');
  });

  it('drops an empty "The agent\'s last message:" heading and keeps a real one', () => {
    expect(tidyFailure("verification failed\n\nThe agent's last message:\n")).toBe('verification failed');
    expect(tidyFailure("verification failed\n\nThe agent's last message:\nI could not run the tests.")).toBe("verification failed\n\nThe agent's last message:\nI could not run the tests.");
  });
});
