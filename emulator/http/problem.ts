/** An error a handler throws to answer with problem details (the app's error handler turns it into the reply). */
export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail?: string,
    readonly type?: string,
  ) {
    super(title);
  }
}

/** RFC 7807 problem details. A 413 also closes the connection: the rest of a refused body is not read. */
export function problem(status: number, title: string, detail?: string, type?: string): Response {
  const headers: Record<string, string> = { 'content-type': 'application/problem+json' };
  if (status === 413) headers.connection = 'close';
  const body = { type: type ?? 'about:blank', title, status, ...(detail ? { detail } : {}) };
  return new Response(JSON.stringify(body), { status, headers });
}
