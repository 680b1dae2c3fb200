// A virtualised, live log: only the visible lines are in the DOM, so 100,000 lines scroll
// smoothly. Rows are measured after render because tool calls expand and collapse.
import { useCallback, useLayoutEffect, useRef, useState } from 'react';
import { useVirtualizer } from '@tanstack/react-virtual';
import type { LogLine } from '@/lib/types';
import { LogLineView } from './LogLineView';
import { findToolResult } from './tool-line';

export function LogView({ lines, live }: { lines: LogLine[]; live: boolean }) {
  const scroller = useRef<HTMLDivElement>(null);
  const [follow, setFollow] = useState(true);
  const [expanded, setExpanded] = useState<Set<number>>(() => new Set());
  // eslint-disable-next-line react-hooks/incompatible-library -- the virtualiser is meant to be used this way.
  const virtualizer = useVirtualizer({
    count: lines.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => 24,
    overscan: 20,
    // Lines are only ever appended, so the index is a stable key (and the cheapest one:
    // the virtualiser looks keys up for every line when offsets change).
    // Batch the re-renders caused by row measurements: with flushSync, every measured
    // row re-ran the O(lines) offset computation, which made big jumps stutter.
    useFlushSync: false,
    initialRect: { width: 800, height: 600 },
  });

  useLayoutEffect(() => {
    if (follow && lines.length > 0) virtualizer.scrollToIndex(lines.length - 1, { align: 'end' });
  }, [follow, lines.length, virtualizer]);

  const toggle = useCallback((seq: number) => {
    setExpanded((prev) => {
      const next = new Set(prev);
      if (next.has(seq)) next.delete(seq);
      else next.add(seq);
      return next;
    });
  }, []);

  // Scrolling up is a clear sign the reader wants to stay put.
  const pauseOnUserScroll = (e: React.WheelEvent | React.KeyboardEvent) => {
    const up = 'deltaY' in e ? e.deltaY < 0 : ['ArrowUp', 'PageUp', 'Home'].includes(e.key);
    if (up && follow) setFollow(false);
  };

  return (
    <div className="log-view">
      <div className="log-toolbar">
        <span role="status" className="muted">
          {lines.length.toLocaleString()} lines{live ? ' · live' : ''}
        </span>
        <button type="button" aria-pressed={!follow} onClick={() => setFollow((f) => !f)}>
          {follow ? 'Pause auto-scroll' : 'Resume auto-scroll'}
        </button>
      </div>
      <div
        ref={scroller}
        className="log-scroll"
        tabIndex={0}
        role="log"
        aria-label="Session log"
        aria-live="off"
        onWheel={pauseOnUserScroll}
        onKeyDown={pauseOnUserScroll}
      >
        <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
          {virtualizer.getVirtualItems().map((v) => {
            const line = lines[v.index];
            if (!line) return null;
            return (
              <div key={v.key} data-index={v.index} ref={virtualizer.measureElement} style={{ position: 'absolute', top: 0, left: 0, right: 0, transform: `translateY(${v.start}px)` }}>
                <LogLineView
                  line={line}
                  expanded={expanded.has(line.seq)}
                  // Looked up only when opened: the answer sits a few lines further down.
                  result={expanded.has(line.seq) ? findToolResult(lines, v.index) : undefined}
                  onToggle={toggle}
                />
              </div>
            );
          })}
        </div>
        {lines.length === 0 ? <p className="muted empty">No log lines yet.</p> : null}
      </div>
    </div>
  );
}
