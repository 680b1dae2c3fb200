import { statusLabel } from '@/lib/format';

/** A coloured pill; colour comes from the status name via CSS (data-status). */
export function StatusBadge({ status }: { status: string }) {
  return (
    <span className="badge" data-status={status}>
      {statusLabel(status)}
    </span>
  );
}
