import { describe, expect, it } from 'vitest';
import type { LogLine } from '@/lib/types';
import { findToolResult, parseTool, toolSubject } from './tool-line';

const at = '2026-11-27T18:00:00Z';
const l = (seq: number, kind: LogLine['kind'], content: unknown): LogLine => ({ session_id: 1, seq, at, kind, content: typeof content === 'string' ? content : JSON.stringify(content) });

describe('tool lines', () => {
  it('names the command, path or pattern a call acted on, for our tools and the CLI runtime', () => {
    expect(toolSubject('run_command', { command: 'npm test', timeout_secs: 60 })).toBe('npm test');
    expect(toolSubject('read_file', { path: 'src/lib.rs', offset: 10 })).toBe('src/lib.rs');
    expect(toolSubject('write_file', { path: 'README.md', content: '# hi' })).toBe('README.md');
    expect(toolSubject('edit_file', { path: 'a.ts', old_string: 'x', new_string: 'y' })).toBe('a.ts');
    expect(toolSubject('search', { pattern: 'fn main', path: 'src' })).toBe('fn main  in src');
    expect(toolSubject('Bash', { command: 'ls -la', description: 'List files' })).toBe('ls -la');
    expect(toolSubject('Edit', { file_path: '/repo/x.rs', old_string: 'a', new_string: 'b' })).toBe('/repo/x.rs');
    expect(toolSubject('mystery_tool', { url: 'http://127.0.0.1:3000' })).toBe('http://127.0.0.1:3000');
  });

  it('keeps a multi-line command on one line and is defensive about odd input', () => {
    expect(toolSubject('run_command', { command: 'cd web &&\n  npm ci' })).toBe('cd web && ⏎ npm ci');
    expect(toolSubject('run_command', {})).toBeNull();
    expect(toolSubject('run_command', null)).toBeNull();
    expect(toolSubject('run_command', ['ls'])).toBeNull();
    expect(toolSubject('run_command', { command: 42 })).toBeNull();
    expect(toolSubject(undefined, undefined)).toBeNull();
  });

  it('reads the path out of an input that was cut short in the log', () => {
    const cut = parseTool(JSON.stringify({ name: 'write_file', input: '{"content":"aaaa","path":"src/big \\"file\\".rs","x":"bbbbbbb', truncated: true }));
    expect(cut.truncated).toBe(true);
    expect(toolSubject(cut.name, cut.input)).toBe('src/big "file".rs');
  });

  it('shows text that is not JSON as it is', () => {
    expect(parseTool('plain text')).toEqual({ output: 'plain text' });
    expect(parseTool('[1,2]')).toEqual({ output: [1, 2] });
  });

  it('pairs each call with its result: one at a time, or a run of calls then their results', () => {
    const lines = [
      l(1, 'text', 'Looking.'),
      l(2, 'tool_call', { name: 'run_command', input: { command: 'ls' } }),
      l(3, 'output', '[ls] a'),
      l(4, 'tool_result', { name: 'run_command', output: 'a' }),
      l(5, 'tool_call', { name: 'Read', input: { file_path: 'a' } }),
      l(6, 'tool_call', { name: 'Read', input: { file_path: 'b' } }),
      l(7, 'tool_result', { name: 'Read', output: 'A' }),
      l(8, 'tool_result', { name: 'Read', output: 'B' }),
      l(9, 'tool_call', { name: 'complete_task', input: { summary: 'done' } }),
      l(10, 'text', 'Bye.'),
    ];
    expect(findToolResult(lines, 1)?.seq).toBe(4);
    expect(findToolResult(lines, 4)?.seq).toBe(7);
    expect(findToolResult(lines, 5)?.seq).toBe(8);
    expect(findToolResult(lines, 8)).toBeUndefined();
    expect(findToolResult(lines, 0)).toBeUndefined();
  });
});
