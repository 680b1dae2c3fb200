import { useEffect, useState } from 'react';

/** The current time, refreshed every `ms` while `active`: for "running for 3m 12s" labels. No network. */
export function useNow(ms: number, active: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms, active]);
  return now;
}
