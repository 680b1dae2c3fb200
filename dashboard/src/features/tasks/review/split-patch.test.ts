import { describe, expect, it } from 'vitest';
import { splitPatch } from './split-patch';

const HEAD = 'diff --git a/f.txt b/f.txt\nindex 1..2 100644\n--- a/f.txt\n+++ b/f.txt\n';

describe('splitting a large patch', () => {
  it('leaves a small patch whole', () => {
    const patch = `${HEAD}@@ -1,2 +1,2 @@\n a\n-b\n+c\n`;
    expect(splitPatch(patch, 200)).toEqual([{ patch, rows: 4 }]);
  });

  it('cuts a long hunk into consecutive hunks with exact headers', () => {
    const body = Array.from({ length: 10 }, (_, i) => `+line ${i + 1}`).join('\n');
    const patch = `diff --git a/n.txt b/n.txt\nnew file mode 100644\n--- /dev/null\n+++ b/n.txt\n@@ -0,0 +1,10 @@\n${body}\n`;
    const pieces = splitPatch(patch, 4);
    expect(pieces.map((p) => p.patch.split('\n').filter((l) => l.startsWith('@@')))).toEqual([
      ['@@ -0,0 +1,3 @@'],
      ['@@ -0,0 +4,3 @@'],
      ['@@ -0,0 +7,3 @@'],
      ['@@ -0,0 +10,1 @@'],
    ]);
    // Every piece keeps the file's header, and every line is in exactly one piece.
    for (const p of pieces) expect(p.patch.startsWith('diff --git a/n.txt b/n.txt\n')).toBe(true);
    expect(pieces.flatMap((p) => p.patch.split('\n').filter((l) => l.startsWith('+line')))).toHaveLength(10);
  });

  it('counts context and removed lines on the old side', () => {
    const patch = `${HEAD}@@ -10,6 +10,5 @@ fn x\n c1\n-d1\n-d2\n+a1\n c2\n c3\n c4\n`;
    const heads = splitPatch(patch, 4).map((p) => p.patch.split('\n').find((l) => l.startsWith('@@')));
    // Three lines a piece (and its header): c1 -d1 -d2 | +a1 c2 c3 | c4.
    expect(heads).toEqual(['@@ -10,3 +10,1 @@ fn x', '@@ -13,2 +11,3 @@', '@@ -15,1 +14,1 @@']);
  });

  it('groups whole hunks up to the limit', () => {
    const patch = `${HEAD}@@ -1,1 +1,1 @@\n-a\n+b\n@@ -9,1 +9,1 @@\n-c\n+d\n@@ -20,1 +20,1 @@\n-e\n+f\n`;
    const pieces = splitPatch(patch, 6);
    expect(pieces).toHaveLength(2);
    expect(pieces[0]!.patch).toContain('@@ -9,1 +9,1 @@');
    expect(pieces[1]!.patch).toContain('@@ -20,1 +20,1 @@');
  });
});
