// Live operations log, newest first, virtualised (the cache holds up to a few thousand).
import { useRef } from 'react';
import { Link } from 'react-router';
import { useVirtualizer } from '@tanstack/react-virtual';
import { ErrorMessage } from '@/components/ErrorMessage';
import { formatTime } from '@/lib/format';
import type { EventFilters } from '@/lib/query-keys';
import { useEvents } from '../api/get-events';

interface Props {
  filters?: EventFilters;
  severity?: string;
  height?: number;
}

export function EventFeed({ filters = {}, severity, height = 480 }: Props) {
  const q = useEvents(filters);
  const events = (q.data?.items ?? []).filter((e) => !severity || e.severity === severity).slice().reverse();
  const scroller = useRef<HTMLDivElement>(null);
  // eslint-disable-next-line react-hooks/incompatible-library -- the virtualiser is meant to be used this way.
  const v = useVirtualizer({
    count: events.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => 44,
    overscan: 10,
    getItemKey: (i) => events[i]?.id ?? i,
    initialRect: { width: 600, height },
    useFlushSync: false, // One re-render per frame for all measured rows.
  });
  return (
    <>
      <ErrorMessage error={q.error} />
      <div ref={scroller} className="event-feed" style={{ height }} tabIndex={0} role="log" aria-label="Event feed" aria-live="off">
        <ul style={{ height: v.getTotalSize(), position: 'relative' }}>
          {v.getVirtualItems().map((row) => {
            const e = events[row.index];
            if (!e) return null;
            return (
              <li key={row.key} data-index={row.index} ref={v.measureElement} className="event" data-severity={e.severity} style={{ position: 'absolute', top: 0, left: 0, right: 0, transform: `translateY(${row.start}px)` }}>
                <span className="muted small">{formatTime(e.at)}</span> <span className="mono small">{e.type}</span>{' '}
                <span className="sev">{e.severity}</span> {e.message}
                {e.task_id != null ? <> · <Link to={`/tasks/${e.task_id}`}>task {e.task_id}</Link></> : null}
                {e.session_id != null ? <> · <Link to={`/sessions/${e.session_id}`}>session #{e.session_id}</Link></> : null}
              </li>
            );
          })}
        </ul>
        {q.isSuccess && events.length === 0 ? <p className="muted empty">No events yet.</p> : null}
      </div>
    </>
  );
}
