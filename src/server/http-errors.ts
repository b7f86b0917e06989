/**
 * The one error shape every failed request gets: `{ statusCode, error, message, field? }`.
 * Validation failures name the field (and where it was: body, querystring, params); server
 * faults say nothing of their cause (it goes to the log).
 */
import type { FastifyError, FastifyInstance } from 'fastify';

export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

/** 400 naming the field: for checks the JSON schema cannot say (a cursor that does not decode). */
export function badField(field: string, message: string): HttpError {
  return new HttpError(400, `${field}: ${message}`, field);
}

export function notFound(message: string): HttpError {
  return new HttpError(404, message);
}

/** What the API's refusals become: bad input 400, unknown ids 404, a state that forbids the call 409. */
const STATUS_OF_CODE: Record<string, number> = {
  ERR_VALIDATION: 400,
  ERR_NOT_FOUND: 404,
  ERR_NOT_RETRYABLE: 409,
  ERR_WORKFLOW_CONFLICT: 409,
};

function statusOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { statusCode, code } = error as { statusCode?: unknown; code?: unknown };
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) return statusCode;
  return typeof code === 'string' && error instanceof Error ? STATUS_OF_CODE[code] : undefined;
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Entity',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

interface ValidationIssue {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

/** `limit`, `filter.name`, or the property the body should not (or should) have. */
function fieldOf(issue: ValidationIssue): string {
  const path = issue.instancePath.split('/').filter((part) => part !== '').join('.');
  const extra = issue.params.additionalProperty ?? issue.params.missingProperty;
  if (typeof extra === 'string') return path === '' ? extra : `${path}.${extra}`;
  return path;
}

function describe(issue: ValidationIssue, field: string): string {
  if (issue.keyword === 'additionalProperties') return `${field}: unknown field`;
  if (issue.keyword === 'required') return `${field}: required`;
  return `${field === '' ? '(whole value)' : field}: ${issue.message ?? 'invalid'}`;
}

export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | HttpError, request, reply) => {
    if ('validation' in error && Array.isArray(error.validation) && error.validation.length > 0) {
      const issue = error.validation[0] as ValidationIssue;
      const field = fieldOf(issue);
      const where = error.validationContext ?? 'request';
      return reply.code(400).send({ statusCode: 400, error: REASONS[400], message: `${describe(issue, field)} (in the ${where})`, field, in: where });
    }
    const status = statusOf(error) ?? 500;
    if (status === 500) {
      request.log.error({ err: error }, 'request failed');
      return reply.code(500).send({ statusCode: 500, error: REASONS[500], message: 'the server failed to answer; see its log' });
    }
    const field = error instanceof HttpError ? error.field : undefined;
    const message = (error as FastifyError).code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? 'request body too large' : error.message;
    return reply.code(status).send({ statusCode: status, error: REASONS[status] ?? 'Error', message, ...(field === undefined ? {} : { field }) });
  });
  app.setNotFoundHandler((request, reply) => {
    return reply.code(404).send({ statusCode: 404, error: REASONS[404], message: `no route ${request.method} ${request.url.split('?')[0] ?? ''}` });
  });
}
