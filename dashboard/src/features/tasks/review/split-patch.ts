// Cuts one file's unified patch into pieces of at most `max` diff lines, so a large file is
// drawn a piece at a time as it scrolls into view instead of all at once. A hunk longer than
// `max` is split into consecutive hunks with exact `@@ -a,b +c,d @@` headers, so line
// numbers (and comments on them) stay those of the file.

const HUNK = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)$/;

interface Hunk { oldStart: number; newStart: number; context: string; lines: string[] }

function header(h: Hunk): string {
  let olds = 0;
  let news = 0;
  for (const l of h.lines) {
    if (l.startsWith('-')) olds++;
    else if (l.startsWith('+')) news++;
    else if (!l.startsWith('\\')) {
      olds++;
      news++;
    }
  }
  // As git writes them: an empty side names the line before it.
  const o = olds === 0 ? h.oldStart - 1 : h.oldStart;
  const n = news === 0 ? h.newStart - 1 : h.newStart;
  return `@@ -${o},${olds} +${n},${news} @@${h.context}`;
}

/** Splits a hunk's lines into hunks of at most `max` lines, keeping a "\ No newline" marker with its line. */
function splitHunk(h: Hunk, max: number): Hunk[] {
  if (h.lines.length <= max) return [h];
  const out: Hunk[] = [];
  let oldAt = h.oldStart;
  let newAt = h.newStart;
  let cur: Hunk = { oldStart: oldAt, newStart: newAt, context: h.context, lines: [] };
  for (const l of h.lines) {
    if (cur.lines.length >= max && !l.startsWith('\\')) {
      out.push(cur);
      cur = { oldStart: oldAt, newStart: newAt, context: '', lines: [] };
    }
    cur.lines.push(l);
    if (l.startsWith('-')) oldAt++;
    else if (l.startsWith('+')) newAt++;
    else if (!l.startsWith('\\')) {
      oldAt++;
      newAt++;
    }
  }
  if (cur.lines.length) out.push(cur);
  return out;
}

export interface PatchPiece { patch: string; rows: number }

/** The patch as pieces of at most `max` diff lines (whole hunks where they fit), each a valid patch of its own. */
export function splitPatch(patch: string, max = 200): PatchPiece[] {
  const lines = patch.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const first = lines.findIndex((l) => l.startsWith('@@'));
  if (first < 0 || lines.length - first <= max) return [{ patch, rows: lines.length - Math.max(first, 0) }];
  const head = lines.slice(0, first);
  const hunks: Hunk[] = [];
  for (const l of lines.slice(first)) {
    const m = HUNK.exec(l);
    // A side with no lines names the line before it: its next line is one further.
    if (m) hunks.push({ oldStart: Number(m[1]) + (m[2] === '0' ? 1 : 0), newStart: Number(m[3]) + (m[4] === '0' ? 1 : 0), context: m[5] ?? '', lines: [] });
    else hunks.at(-1)?.lines.push(l);
  }
  // The original header's counts are exact for a hunk left whole, but one that is split gets
  // new ones; so every hunk's header is written from its lines.
  const pieces: PatchPiece[] = [];
  let group: Hunk[] = [];
  let size = 0;
  const flush = () => {
    if (!group.length) return;
    const body = group.flatMap((h) => [header(h), ...h.lines]);
    pieces.push({ patch: [...head, ...body].join('\n') + '\n', rows: body.length });
    group = [];
    size = 0;
  };
  // A piece's rows are its lines and one header row per hunk.
  for (const h of hunks.flatMap((h) => splitHunk(h, Math.max(1, max - 1)))) {
    if (size + h.lines.length + 1 > max) flush();
    group.push(h);
    size += h.lines.length + 1;
  }
  flush();
  return pieces;
}
