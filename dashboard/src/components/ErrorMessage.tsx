// Shows an API error with the server's own message. role="alert" so screen readers hear it.
import { errorMessage } from '@/lib/api-client';

export function ErrorMessage({ error, title }: { error: unknown; title?: string }) {
  if (!error) return null;
  return (
    <div role="alert" className="error">
      {title ? <strong>{title}: </strong> : null}
      {errorMessage(error)}
    </div>
  );
}
