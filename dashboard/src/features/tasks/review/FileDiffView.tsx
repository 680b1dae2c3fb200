// One file's diff, unified or side by side with syntax highlighting, drawn by
// @git-diff-view/react. Comments show inline under their line; the "+" beside a line opens
// a new comment there. This module (and the diff library with highlight.js) is loaded only
// when a review is on screen.
import { useMemo } from 'react';
import { DiffModeEnum, DiffView, SplitSide, getLang, highlighter } from '@git-diff-view/react';
import '@git-diff-view/react/styles/diff-view-pure.css';
import { CommentForm, CommentThread } from './Comments';
import type { CommentSide, DiffFile, ReviewComment } from '@/lib/types';

export type DiffMode = 'unified' | 'split';

// The highlighter skips a file whose highest line number is past its limit (2,000). A large
// file is drawn here in pieces of a few hundred lines, but a piece deep in the file still
// counts from line 1, so the limit is raised: each piece highlights only its own lines.
highlighter.setMaxLineToIgnoreSyntax(200_000);

const sideOf = (s: SplitSide): CommentSide => (s === SplitSide.old ? 'old' : 'new');

function prefersDark() {
  return typeof window !== 'undefined' && typeof window.matchMedia === 'function' && window.matchMedia('(prefers-color-scheme: dark)').matches;
}

interface Props {
  taskId: number;
  file: DiffFile;
  /** The part of the file's patch to draw (a large file is drawn in pieces). */
  patch: string;
  mode: DiffMode;
  /** The comments still on a line of this file (not outdated). */
  comments: ReviewComment[];
}

export default function FileDiffView({ taskId, file, patch, mode, comments }: Props) {
  const data = useMemo(() => {
    const oldName = file.old_path ?? file.path;
    return {
      oldFile: { fileName: oldName, fileLang: getLang(oldName) },
      newFile: { fileName: file.path, fileLang: getLang(file.path) },
      hunks: [patch],
    };
  }, [patch, file.path, file.old_path]);

  const extendData = useMemo(() => {
    const oldFile: Record<string, { data: ReviewComment[] }> = {};
    const newFile: Record<string, { data: ReviewComment[] }> = {};
    for (const c of comments) {
      const at = c.side === 'old' ? oldFile : newFile;
      const line = String(c.end_line ?? c.line);
      (at[line] ??= { data: [] }).data.push(c);
    }
    return { oldFile, newFile };
  }, [comments]);

  return (
    <DiffView<ReviewComment[]>
      data={data}
      extendData={extendData}
      diffViewMode={mode === 'split' ? DiffModeEnum.Split : DiffModeEnum.Unified}
      diffViewTheme={prefersDark() ? 'dark' : 'light'}
      diffViewHighlight
      diffViewWrap={false}
      diffViewFontSize={13}
      diffViewAddWidget
      renderWidgetLine={({ lineNumber, side, onClose }) => (
        <CommentForm taskId={taskId} path={file.path} line={lineNumber} side={sideOf(side)} onDone={onClose} />
      )}
      renderExtendLine={({ data: thread }) => <CommentThread comments={thread} />}
    />
  );
}
