import { useEffect, useState } from 'react';

/** The value as it was `ms` after it last changed. Compared by JSON so object literals work. */
export function useDebounced<T>(value: T, ms: number): T {
  const [state, setState] = useState(value);
  const json = JSON.stringify(value);
  useEffect(() => {
    const t = setTimeout(() => setState(JSON.parse(json) as T), ms);
    return () => clearTimeout(t);
  }, [json, ms]);
  return state;
}
