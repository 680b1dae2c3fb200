// The one HTTP client: openapi-fetch over the paths generated from the server's OpenAPI
// document (api-types.ts), so tsc checks every path, parameter, body and answer. Every
// call goes to a relative URL so the app works behind any proxy, and every non-2xx answer
// becomes an ApiError carrying the server's message.
import createClient from 'openapi-fetch';
import type { paths } from './api-types';
import type { ApiErrorBody } from './types';

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field: string | null;
  constructor(status: number, code: string, message: string, field: string | null = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

/** An unset filter (absent, null or empty) is left out of the query string, not sent as `q=`. */
export function querySerializer(query: Record<string, unknown>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  }
  return params.toString();
}

/** `fetch` is looked up per request (tests stub it), and a refused connection says what it means. */
async function send(request: Request): Promise<Response> {
  try {
    return await fetch(request);
  } catch (err) {
    throw new ApiError(0, 'network', `Cannot reach the orchestrator (${(err as Error).message}). Is it running?`);
  }
}

export const client = createClient<paths>({
  // Relative: the browser resolves it against the page, whatever host or proxy served it.
  baseUrl: '',
  // The login is an HttpOnly cookie; the dashboard never holds the token itself.
  credentials: 'same-origin',
  headers: { Accept: 'application/json' },
  querySerializer,
  fetch: send,
});

const isErrorBody = (body: unknown): body is ApiErrorBody =>
  typeof (body as ApiErrorBody | null)?.error?.message === 'string';

/** openapi-fetch hands back the failed answer's body parsed as JSON when it is JSON, as text otherwise. */
function toError(res: Response, body: unknown): ApiError {
  if (isErrorBody(body)) return new ApiError(res.status, body.error.code, body.error.message, body.error.field ?? null);
  // Not our JSON error shape (e.g. a proxy's HTML page): a plain message.
  const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
  const detail = text && text.length < 200 ? `: ${text}` : '';
  return new ApiError(res.status, 'http_error', `${res.status} ${res.statusText || 'error'}${detail}`);
}

/** The answer's body, or the ApiError the UI shows: `unwrap(client.GET('/api/…', …))`. */
export async function unwrap<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok) throw toError(response, error);
  return data as T;
}

export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}
