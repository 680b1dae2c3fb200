// Reading the session log's tool lines. The engine stores them as JSON text
// (orchestrator/src/engine/anthropic/agent_loop.rs, cli_runtime.rs):
//   tool_call    {"name": "run_command", "input": {...}}
//                or, when the input was too big, {"name", "input": "<cut JSON text>", "truncated": true}
//   tool_result  {"name": "run_command", "output": "...", "is_error": false}
// Anything else (older lines, another runtime) is shown as it is, never dropped.
import type { LogLine } from '@/lib/types';

export interface ToolPayload {
  name?: string;
  input?: unknown;
  output?: unknown;
  is_error?: boolean;
  truncated?: boolean;
}

export function parseTool(content: string): ToolPayload {
  try {
    const v = JSON.parse(content) as unknown;
    if (!v || typeof v !== 'object' || Array.isArray(v)) return { output: v };
    const o = v as Record<string, unknown>;
    return {
      name: typeof o.name === 'string' ? o.name : undefined,
      input: o.input,
      output: o.output,
      is_error: o.is_error === true,
      truncated: o.truncated === true,
    };
  } catch {
    return { output: content }; // Not JSON: show the text itself rather than hide it.
  }
}

// The field that says what a call did, by tool: ours (run_command, read_file, ...) and the
// Claude Code CLI's (Bash, Read, Edit, ...). Unknown tools fall back to the generic list.
const BY_TOOL: Record<string, string[]> = {
  run_command: ['command'],
  bash: ['command'],
  read_file: ['path'],
  write_file: ['path'],
  edit_file: ['path'],
  list_dir: ['path'],
  search: ['pattern', 'path'],
  read: ['file_path'],
  write: ['file_path'],
  edit: ['file_path'],
  multiedit: ['file_path'],
  notebookedit: ['notebook_path'],
  grep: ['pattern', 'path'],
  glob: ['pattern', 'path'],
  browser_open: ['url'],
  webfetch: ['url'],
  websearch: ['query'],
};
const GENERIC = ['command', 'file_path', 'path', 'notebook_path', 'url', 'pattern', 'selector', 'query', 'title', 'question', 'reason', 'summary'];

const MAX_SUBJECT = 300;

/** One line, at most MAX_SUBJECT characters: the whole value is in the expanded view. */
function oneLine(s: string): string {
  const flat = s.replace(/\s*\n\s*/g, ' ⏎ ').trim();
  return flat.length > MAX_SUBJECT ? `${flat.slice(0, MAX_SUBJECT)}…` : flat;
}

/** A string field of a cut-off JSON text, if it is there in full. */
function fieldOfText(text: string, field: string): string | undefined {
  const m = new RegExp(`"${field}"\\s*:\\s*"((?:[^"\\\\]|\\\\.)*)"`).exec(text);
  if (!m) return undefined;
  try {
    return JSON.parse(`"${m[1]}"`) as string;
  } catch {
    return m[1];
  }
}

/** What a tool call acted on, for its collapsed line: the command run, the file read or written, ... */
export function toolSubject(name: string | undefined, input: unknown): string | null {
  const fields = [...(BY_TOOL[(name ?? '').toLowerCase()] ?? []), ...GENERIC];
  let get: (field: string) => unknown;
  if (input && typeof input === 'object' && !Array.isArray(input)) {
    get = (f) => (input as Record<string, unknown>)[f];
  } else if (typeof input === 'string') {
    get = (f) => fieldOfText(input, f);
  } else {
    return null;
  }
  const main = fields.find((f) => typeof get(f) === 'string' && (get(f) as string).trim() !== '');
  if (!main) return null;
  let subject = get(main) as string;
  // A search names its pattern and, when given, where it looked.
  if (main === 'pattern') {
    const where = get('path');
    if (typeof where === 'string' && where.trim() && where !== '.') subject += `  in ${where}`;
  }
  return oneLine(subject);
}

/** The first non-empty line of a tool's output, shortened: a preview for its collapsed line. */
export function outputPreview(output: unknown): string | null {
  const text = typeof output === 'string' ? output : output == null ? '' : JSON.stringify(output);
  const first = text.split('\n').find((l) => l.trim() !== '')?.trim();
  if (!first) return null;
  return first.length > 120 ? `${first.slice(0, 120)}…` : first;
}

const PASSES_THROUGH = new Set(['output', 'system']);

/**
 * The tool_result line answering the tool_call at `index`, or undefined. Results come in
 * the order of their calls: the anthropic runtime logs call, output, result, call, ...;
 * the CLI logs a message's calls together, then their results. So the n-th call of a run
 * of calls gets the n-th result after the run. Looks only at nearby lines.
 */
export function findToolResult(lines: readonly LogLine[], index: number, reach = 500): LogLine | undefined {
  if (lines[index]?.kind !== 'tool_call') return undefined;
  let before = 0;
  for (let j = index - 1; j >= 0 && j >= index - reach; j--) {
    const k = lines[j]!.kind;
    if (k === 'tool_call') before++;
    else if (!PASSES_THROUGH.has(k)) break;
  }
  for (let j = index + 1; j < lines.length && j <= index + reach; j++) {
    const k = lines[j]!.kind;
    if (k === 'tool_result') {
      if (before === 0) return lines[j];
      before--;
    } else if (k !== 'tool_call' && !PASSES_THROUGH.has(k)) {
      return undefined;
    }
  }
  return undefined;
}
