// Spend against the configured limits, today and this month. A <meter> per limit gives
// screen readers the numbers as well as the bar.
import { ErrorMessage } from '@/components/ErrorMessage';
import { formatTokens, formatUsd } from '@/lib/format';
import { useBudget } from '../api/get-budget';

function Gauge({ label, used, limit, format }: { label: string; used: number; limit?: number | null; format: (n: number) => string }) {
  return (
    <div className="gauge">
      <div className="gauge-label">
        <span>{label}</span>
        <span>
          {format(used)} {limit != null ? `of ${format(limit)}` : <span className="muted">(no limit)</span>}
        </span>
      </div>
      {limit != null ? <meter aria-label={label} min={0} max={limit} low={limit * 0.7} high={limit * 0.9} optimum={0} value={Math.min(used, limit)} /> : null}
    </div>
  );
}

export function BudgetGauge() {
  const q = useBudget();
  if (q.isError) return <ErrorMessage error={q.error} title="Budget" />;
  if (!q.data) return <p role="status">Loading budget…</p>;
  const b = q.data;
  return (
    <div className="gauges">
      {b.exceeded ? <p role="alert" className="error">Budget exceeded: new work is stopped.</p> : null}
      <Gauge label="Cost today" used={b.today.cost_usd} limit={b.limits.daily_usd} format={formatUsd} />
      <Gauge label="Cost this month" used={b.month.cost_usd} limit={b.limits.monthly_usd} format={formatUsd} />
      <Gauge label="Tokens today" used={b.today.input_tokens + b.today.output_tokens} limit={b.limits.daily_tokens} format={formatTokens} />
      <Gauge label="Tokens this month" used={b.month.input_tokens + b.month.output_tokens} limit={b.limits.monthly_tokens} format={formatTokens} />
    </div>
  );
}
