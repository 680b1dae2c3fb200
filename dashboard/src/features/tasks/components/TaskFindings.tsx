// What human-sim agents reported failing on this task, each with its screenshot.
import { ErrorMessage } from '@/components/ErrorMessage';
import { formatTime } from '@/lib/format';
import { findingScreenshotUrl, useTaskFindings } from '../api/get-task-findings';

export function TaskFindings({ taskId }: { taskId: number }) {
  const q = useTaskFindings(taskId);
  // Most tasks are never tested through the browser: no empty section for them.
  if (q.data && q.data.items.length === 0) return null;
  return (
    <section aria-labelledby="findings-h" className="card">
      <h2 id="findings-h">Findings</h2>
      <ErrorMessage error={q.error} />
      <ul className="findings">
        {q.data?.items.map((f) => (
          <li key={f.id}>
            <article aria-labelledby={`finding-${f.id}`}>
              <h3 id={`finding-${f.id}`}>{f.title}</h3>
              <p className="muted">
                {f.persona ? <>As {f.persona} · </> : null}
                {formatTime(f.created_at)}
                {f.session_id != null ? <> · session {f.session_id}</> : null}
              </p>
              {f.detail ? <p className="prewrap">{f.detail}</p> : null}
              {f.has_screenshot ? (
                <a href={findingScreenshotUrl(f.id)} target="_blank" rel="noreferrer">
                  <img className="finding-shot" src={findingScreenshotUrl(f.id)} alt={`Screenshot: ${f.title}`} loading="lazy" />
                </a>
              ) : null}
            </article>
          </li>
        ))}
      </ul>
    </section>
  );
}
