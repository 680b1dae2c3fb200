// One log line, by kind. Tool calls and results are collapsed to one line that says what
// they did (the command run, the file read or written); the full input and output open
// with a real button (keyboard and screen-reader friendly).
import { useMemo } from 'react';
import type { LogLine } from '@/lib/types';
import { outputPreview, parseTool, toolSubject } from './tool-line';

function diffClass(line: string): string | undefined {
  if (line.startsWith('+++') || line.startsWith('---') || line.startsWith('@@') || line.startsWith('diff ')) return 'diff-hunk';
  if (line.startsWith('+')) return 'diff-add';
  if (line.startsWith('-')) return 'diff-del';
  return undefined;
}

const show = (v: unknown) => (typeof v === 'string' ? v : v === undefined ? '' : JSON.stringify(v, null, 2));

interface Props {
  line: LogLine;
  /** For a tool call: the result line that answers it, when the log has it. */
  result?: LogLine;
  expanded: boolean;
  onToggle: (seq: number) => void;
}

function ToolLine({ line, result, expanded, onToggle }: Props) {
  const tool = useMemo(() => parseTool(line.content), [line.content]);
  const answer = useMemo(() => (expanded && result ? parseTool(result.content) : null), [expanded, result]);
  const isCall = line.kind === 'tool_call';
  const label = `${isCall ? 'Tool call' : tool.is_error ? 'Tool error' : 'Tool result'}: ${tool.name ?? 'unknown'}`;
  const subject = isCall ? toolSubject(tool.name, tool.input) : outputPreview(tool.output);
  const bodyId = `log-${line.session_id}-${line.seq}`;
  // A result is paired with its call only when the names agree (or either is unknown).
  const output = answer && (!answer.name || !tool.name || answer.name === tool.name) ? answer : null;
  return (
    <div className={`log-line log-${line.kind}${tool.is_error ? ' log-error' : ''}`}>
      <button type="button" className="log-toggle" aria-expanded={expanded} aria-controls={bodyId} onClick={() => onToggle(line.seq)}>
        <span aria-hidden="true">{expanded ? '▾' : '▸'}</span> {label}
        {subject ? ' ' : null}
        {subject ? <span className={isCall ? 'log-subject' : 'log-subject muted'}>{subject}</span> : null}
      </button>
      {expanded ? (
        <div id={bodyId} className="log-tool-body">
          {isCall ? (
            <>
              <div className="log-tool-heading">Input{tool.truncated ? ' (cut short in the log)' : ''}</div>
              <pre className="log-pre">{show(tool.input)}</pre>
              {output ? (
                <>
                  <div className="log-tool-heading">{output.is_error ? 'Output (error)' : 'Output'}</div>
                  <pre className="log-pre">{show(output.output)}</pre>
                </>
              ) : null}
            </>
          ) : (
            <pre className="log-pre">{show(tool.output)}</pre>
          )}
        </div>
      ) : null}
    </div>
  );
}

export function LogLineView(props: Props) {
  const { line } = props;
  switch (line.kind) {
    case 'tool_call':
    case 'tool_result':
      return <ToolLine {...props} />;
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
