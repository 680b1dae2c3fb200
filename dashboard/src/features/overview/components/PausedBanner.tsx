// "The orchestrator is paused" where work is looked at (the board). Live: the status
// arrives over the WebSocket (orchestrator.updated) and patches the same query.
import { ErrorMessage } from '@/components/ErrorMessage';
import { useOrchestratorStatus } from '../api/get-orchestrator-status';
import { useSetPaused } from '../api/set-paused';

export function PausedBanner() {
  const status = useOrchestratorStatus();
  const resume = useSetPaused();
  if (!status.data?.paused) return null;
  return (
    <div className="notice notice-paused" role="status" aria-label="Orchestrator paused">
      <span>
        <strong>The orchestrator is paused.</strong> No task starts until it is resumed; sessions already running go on.
      </span>
      <button type="button" className="primary" onClick={() => resume.mutate(false)} disabled={resume.isPending}>
        Resume
      </button>
      <ErrorMessage error={resume.error} title="Could not resume" />
    </div>
  );
}
