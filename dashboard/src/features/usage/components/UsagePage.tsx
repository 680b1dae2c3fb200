// Tokens and cost per day (last 30 days) against the daily limits, and the split by agent
// and by model. The server gives per-agent/per-model totals, not per-day series; each
// `daily` row is keyed by its date (SpendBy.key).
import { Bar, BarChart, CartesianGrid, Legend, ReferenceLine, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { ErrorMessage } from '@/components/ErrorMessage';
import { formatTokens, formatUsd } from '@/lib/format';
import type { Budget } from '@/lib/types';
import { useBudget } from '../api/get-budget';
import { BudgetGauge } from './BudgetGauge';

const COST = 'var(--chart-1)';
const TOKENS_IN = 'var(--chart-2)';
const TOKENS_OUT = 'var(--chart-3)';

/** Axis labels: cents matter at small spend, whole dollars at large. */
const usdTick = (v: number) => (v >= 10 ? `$${v.toFixed(0)}` : v >= 1 ? `$${v.toFixed(2)}` : `$${v.toPrecision(2)}`);

export function UsagePage() {
  const q = useBudget();
  return (
    <div className="page">
      <header className="page-header">
        <h1>Usage</h1>
      </header>
      <section className="card" aria-labelledby="limits-h">
        <h2 id="limits-h">Against limits</h2>
        <BudgetGauge />
      </section>
      <ErrorMessage error={q.error} />
      {q.data ? <Charts budget={q.data} /> : null}
    </div>
  );
}

function Charts({ budget }: { budget: Budget }) {
  const { daily, limits } = budget;
  if (daily.length === 0) {
    return (
      <section className="card" aria-labelledby="cost-h">
        <h2 id="cost-h">Over time</h2>
        <p className="muted">No usage recorded in the last 30 days.</p>
      </section>
    );
  }
  return (
    <>
      <section className="card" aria-labelledby="cost-h">
        <h2 id="cost-h">Cost per day</h2>
        <div className="chart" role="img" aria-label={`Cost per day over ${daily.length} days`}>
          <ResponsiveContainer width="100%" height={260}>
            <BarChart data={daily}>
              <CartesianGrid strokeDasharray="3 3" />
              <XAxis dataKey="key" />
              <YAxis width={72} tickFormatter={usdTick} />
              <Tooltip formatter={(v) => formatUsd(Number(v))} />
              <Legend />
              <Bar dataKey="cost_usd" name="Cost (USD)" fill={COST} maxBarSize={48} isAnimationActive={false} />
              {limits.daily_usd != null ? <ReferenceLine y={limits.daily_usd} stroke="var(--danger)" strokeDasharray="6 3" label="Daily limit" /> : null}
            </BarChart>
          </ResponsiveContainer>
        </div>
      </section>
      <section className="card" aria-labelledby="tok-h">
        <h2 id="tok-h">Tokens per day</h2>
        <div className="chart" role="img" aria-label="Input and output tokens per day">
          <ResponsiveContainer width="100%" height={260}>
            <BarChart data={daily}>
              <CartesianGrid strokeDasharray="3 3" />
              <XAxis dataKey="key" />
              <YAxis width={72} tickFormatter={(v: number) => formatTokens(v)} />
              <Tooltip formatter={(v) => formatTokens(Number(v))} />
              <Legend />
              <Bar dataKey="input_tokens" name="Input" stackId="t" fill={TOKENS_IN} maxBarSize={48} isAnimationActive={false} />
              <Bar dataKey="output_tokens" name="Output" stackId="t" fill={TOKENS_OUT} maxBarSize={48} isAnimationActive={false} />
              {limits.daily_tokens != null ? <ReferenceLine y={limits.daily_tokens} stroke="var(--danger)" strokeDasharray="6 3" label="Daily limit" /> : null}
            </BarChart>
          </ResponsiveContainer>
        </div>
      </section>
      <Breakdown title="By agent" rows={budget.per_agent} />
      <Breakdown title="By model" rows={budget.per_model} />
    </>
  );
}

function Breakdown({ title, rows }: { title: string; rows: Budget['per_agent'] }) {
  const id = `bd-${title.replace(/\s/g, '-')}`;
  return (
    <section className="card" aria-labelledby={id}>
      <h2 id={id}>{title} (this month)</h2>
      {rows.length === 0 ? (
        <p className="muted">No usage yet.</p>
      ) : (
        <div className="chart" role="img" aria-label={`Cost ${title.toLowerCase()}`}>
          <ResponsiveContainer width="100%" height={Math.max(120, rows.length * 36 + 40)}>
            <BarChart data={rows} layout="vertical" margin={{ left: 40 }}>
              <CartesianGrid strokeDasharray="3 3" />
              <XAxis type="number" tickFormatter={usdTick} />
              <YAxis type="category" dataKey="key" width={140} />
              <Tooltip formatter={(v) => formatUsd(Number(v))} />
              <Bar dataKey="cost_usd" name="Cost (USD)" fill={COST} maxBarSize={28} isAnimationActive={false} />
            </BarChart>
          </ResponsiveContainer>
        </div>
      )}
      <table>
        <caption className="sr-only">{title}</caption>
        <thead>
          <tr><th scope="col">Name</th><th scope="col">Cost</th><th scope="col">Input tokens</th><th scope="col">Output tokens</th></tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.key}><td>{r.key}</td><td>{formatUsd(r.cost_usd)}</td><td>{formatTokens(r.input_tokens)}</td><td>{formatTokens(r.output_tokens)}</td></tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
