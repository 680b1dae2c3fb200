import { ErrorMessage } from '@/components/ErrorMessage';
import type { RuntimeState } from '@/lib/types';
import { useRuntimes } from '../api/get-runtimes';

/** Each runtime the agents run on: its program, whether it is found, its version, its credentials. */
export function RuntimesTable() {
  const runtimes = useRuntimes();
  return (
    <section aria-labelledby="runtimes-heading">
      <h2 id="runtimes-heading">Runtimes</h2>
      <ErrorMessage error={runtimes.error} title="Could not load the runtimes" />
      <div className="table-wrap">
        <table>
          <caption className="sr-only">Runtimes</caption>
          <thead>
            <tr>
              <th scope="col">Runtime</th>
              <th scope="col">Program</th>
              <th scope="col">Version</th>
              <th scope="col">Credentials</th>
              <th scope="col">Agents</th>
              <th scope="col">State</th>
            </tr>
          </thead>
          <tbody>
            {runtimes.data?.items.map((r) => (
              <tr key={`${r.runtime} ${r.command.join(' ')}`} aria-label={`Runtime ${r.runtime}${r.command.length ? ` ${r.command[0]}` : ''}`}>
                <td>{r.runtime}</td>
                <td className="mono">{program(r)}</td>
                <td className="mono">{r.version ?? '–'}</td>
                <td>{r.credentials}</td>
                <td>{r.agents.length ? r.agents.join(', ') : <span className="muted">none</span>}</td>
                <td>{r.problem ? <span className="muted small">{r.problem}</span> : 'ready'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function program(r: RuntimeState): string {
  if (r.command.length === 0) return 'built in';
  if (!r.path) return `${r.command.join(' ')} (not found)`;
  return [r.path, ...r.command.slice(1)].join(' ');
}
