import '@testing-library/jest-dom/vitest';
import { cleanup } from '@testing-library/react';
import { afterEach, vi } from 'vitest';

// jsdom has no layout: give elements a size so virtualised lists render rows, and a
// no-op ResizeObserver (the virtualiser subscribes to one).
class NoopResizeObserver {
  observe() {}
  unobserve() {}
  disconnect() {}
}
globalThis.ResizeObserver ??= NoopResizeObserver as unknown as typeof ResizeObserver;
Element.prototype.getBoundingClientRect = function () {
  return { x: 0, y: 0, top: 0, left: 0, bottom: 600, right: 800, width: 800, height: 600, toJSON: () => ({}) };
};
Object.defineProperty(HTMLElement.prototype, 'offsetHeight', { configurable: true, get: () => 600 });
Object.defineProperty(HTMLElement.prototype, 'offsetWidth', { configurable: true, get: () => 800 });
Element.prototype.scrollTo = function () {};

// The API client builds a Request for a relative URL (/api/…), which a browser resolves
// against the page. Node's Request (jsdom has none) refuses relative URLs: resolve them
// against jsdom's page URL, as a browser would.
class PageRequest extends Request {
  constructor(input: RequestInfo | URL, init?: RequestInit) {
    super(typeof input === 'string' ? new URL(input, window.location.href) : input, init);
  }
}
globalThis.Request = PageRequest;

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});
Object.defineProperty(HTMLElement.prototype, 'clientHeight', { configurable: true, get: () => 600 });
Object.defineProperty(HTMLElement.prototype, 'clientWidth', { configurable: true, get: () => 800 });

// jsdom has no canvas: the diff view measures its line-number column with a 2D context's
// measureText. A stand-in that answers a width keeps it drawing.
HTMLCanvasElement.prototype.getContext = function () {
  return { font: '', measureText: (text: string) => ({ width: text.length * 8 }) };
} as unknown as typeof HTMLCanvasElement.prototype.getContext;
