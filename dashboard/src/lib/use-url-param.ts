import { useSearchParams } from 'react-router';

/**
 * Filters that live in the URL, so a filtered view can be bookmarked and shared.
 * Returns a getter and a setter; an empty value removes the parameter.
 */
export function useUrlParams() {
  const [params, setParams] = useSearchParams();
  const get = (key: string) => params.get(key) ?? '';
  const set = (key: string, value: string) => {
    const next = new URLSearchParams(params);
    if (value) next.set(key, value);
    else next.delete(key);
    setParams(next, { replace: true });
  };
  return { get, set };
}
