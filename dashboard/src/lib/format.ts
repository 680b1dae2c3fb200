// Display formatting. Timestamps arrive as UTC RFC 3339 strings and are shown in the
// viewer's local time zone.

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

export function durationBetween(start: string, end: string | null | undefined, now = Date.now()): string {
  return formatDuration((end ? Date.parse(end) : now) - Date.parse(start));
}

export const formatUsd = (n: number | null | undefined) => (n == null ? '—' : `$${n.toFixed(n < 1 ? 4 : 2)}`);

export const formatTokens = (n: number | null | undefined) =>
  n == null ? '—' : n >= 1_000_000 ? `${(n / 1_000_000).toFixed(1)}M` : n >= 1000 ? `${(n / 1000).toFixed(1)}k` : String(n);

export const statusLabel = (s: string) => s.replace(/_/g, ' ');

/** "in 2m", "in 45s", "in 1h 5m"; "now" once the time has come. For labels that tick with useNow. */
export function formatRelative(iso: string, now = Date.now()): string {
  const ms = Date.parse(iso) - now;
  if (!Number.isFinite(ms)) return iso;
  if (ms <= 0) return 'now';
  const s = Math.ceil(ms / 1000);
  if (s < 60) return `in ${s}s`;
  const m = Math.ceil(s / 60);
  if (m < 60) return `in ${m}m`;
  const h = Math.floor(m / 60);
  return m % 60 ? `in ${h}h ${m % 60}m` : `in ${h}h`;
}

/**
 * A failure text as shown to people: a trailing "The agent's last message:" heading with
 * nothing after it (the agent said nothing) is dropped rather than left dangling.
 */
export function tidyFailure(text: string): string {
  return text.replace(/\s*The agent's last message:\s*$/, '').trimEnd();
}
