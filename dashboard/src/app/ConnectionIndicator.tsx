import { useConnectionState } from './live-provider';

const TEXT = {
  connecting: 'Connecting…',
  connected: 'Live',
  reconnecting: 'Reconnecting…',
  unreachable: 'Orchestrator unreachable',
} as const;

export function ConnectionIndicator() {
  const state = useConnectionState();
  return (
    <span className="conn" data-state={state} role="status" aria-label={`Connection: ${TEXT[state]}`}>
      <span className="conn-dot" aria-hidden="true" />
      {TEXT[state]}
    </span>
  );
}
