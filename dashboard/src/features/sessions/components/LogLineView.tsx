// One log line, by kind. Tool calls and results are collapsed to their name by default;
// their input/output opens with a real button (keyboard and screen-reader friendly).
import type { LogLine } from '../../../lib/types';

interface ToolPayload {
  name?: string;
  input?: unknown;
  output?: unknown;
  is_error?: boolean;
}

function parseTool(content: string): ToolPayload {
  try {
    const v = JSON.parse(content) as unknown;
    return v && typeof v === 'object' ? (v as ToolPayload) : { output: v };
  } catch {
    return { output: content }; // Not JSON: show the text itself rather than hide it.
  }
}

function diffClass(line: string): string | undefined {
  if (line.startsWith('+++') || line.startsWith('---') || line.startsWith('@@') || line.startsWith('diff ')) return 'diff-hunk';
  if (line.startsWith('+')) return 'diff-add';
  if (line.startsWith('-')) return 'diff-del';
  return undefined;
}

const show = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v, null, 2));

interface Props {
  line: LogLine;
  expanded: boolean;
  onToggle: (seq: number) => void;
}

export function LogLineView({ line, expanded, onToggle }: Props) {
  switch (line.kind) {
    case 'tool_call':
    case 'tool_result': {
      const tool = parseTool(line.content);
      const isCall = line.kind === 'tool_call';
      const label = `${isCall ? 'Tool call' : tool.is_error ? 'Tool error' : 'Tool result'}: ${tool.name ?? 'unknown'}`;
      const body = isCall ? tool.input : tool.output;
      const bodyId = `log-${line.session_id}-${line.seq}`;
      return (
        <div className={`log-line log-${line.kind}${tool.is_error ? ' log-error' : ''}`}>
          <button type="button" className="log-toggle" aria-expanded={expanded} aria-controls={bodyId} onClick={() => onToggle(line.seq)}>
            <span aria-hidden="true">{expanded ? '▾' : '▸'}</span> {label}
          </button>
          {expanded ? (
            <pre id={bodyId} className="log-pre">
              {show(body)}
            </pre>
          ) : null}
        </div>
      );
    }
    case 'diff':
      return (
        <div className="log-line log-diff">
          <pre className="log-pre">
            {line.content.split('\n').map((l, i) => (
              <span key={i} className={diffClass(l)}>
                {l + '\n'}
              </span>
            ))}
          </pre>
        </div>
      );
    case 'commit':
      return (
        <div className="log-line log-commit">
          <strong>Commit</strong> <span className="mono">{line.content}</span>
        </div>
      );
    case 'output':
      return <pre className="log-line log-output log-pre">{line.content}</pre>;
    case 'system':
      return <div className="log-line log-system">{line.content}</div>;
    default:
      return <div className="log-line log-text prewrap">{line.content}</div>;
  }
}
