import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { HeraldError } from '../core/errors.js';

interface ValidationIssue {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

/**
 * The single place where failures become responses. HeraldErrors carry their own code; schema
 * failures name the field; anything unexpected is logged and answered with a bare 500, so no
 * internals (or secrets inside them) reach a client.
 */
export function installErrorHandling(
  app: FastifyInstance,
  notFound: (request: FastifyRequest, reply: FastifyReply) => unknown = answerNoRoute,
): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const known = toHeraldError(error);
    if (known) return reply.code(known.status).send(known.toBody());
    request.log.error({ err: error, url: request.routeOptions.url }, 'request failed');
    return reply.code(500).send(new HeraldError('internal').toBody());
  });
  app.setNotFoundHandler(notFound);
}

export function answerNoRoute(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const path = request.url.split('?')[0];
  return reply.code(404).send(new HeraldError('not_found', `no route ${request.method} ${path}`).toBody());
}

function toHeraldError(error: FastifyError): HeraldError | null {
  if (error instanceof HeraldError) return error;
  if (error.validation) return fromValidation(error.validation as ValidationIssue[], error.validationContext);
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HeraldError('payload_too_large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new HeraldError('unsupported_media_type');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new HeraldError('invalid_json', 'The request body is empty');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new HeraldError('invalid_json');
  }
  if (error instanceof SyntaxError || (error.statusCode === 400 && /JSON/i.test(error.message))) {
    return new HeraldError('invalid_json');
  }
  if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
    return new HeraldError('validation_failed', error.message);
  }
  return null;
}

function fromValidation(issues: ValidationIssue[], context: string | undefined): HeraldError {
  const [issue] = issues;
  const path = issue.instancePath
    .split('/')
    .slice(1)
    .map((token) => token.replace(/~1/g, '/').replace(/~0/g, '~'));
  let message = issue.message ?? 'is not valid';
  if (issue.keyword === 'required') {
    path.push(String(issue.params.missingProperty));
    message = 'is required';
  } else if (issue.keyword === 'additionalProperties') {
    path.push(String(issue.params.additionalProperty));
    message = 'is not a known field';
  } else if (issue.keyword === 'minProperties' && path.length === 0) {
    message = 'must contain at least one field';
  } else if (issue.keyword === 'const') {
    // A union of literals fails once per literal; listing them says what would be accepted.
    message = `must be one of ${allowedValues(issues, issue.instancePath).join(', ')}`;
  } else if (issue.keyword === 'anyOf' || issue.keyword === 'union') {
    message = 'has the wrong type or value';
  }
  const field = toFieldPath(path);
  const where = context && context !== 'body' ? ` (${context})` : '';
  return new HeraldError('validation_failed', `${field || 'the request'} ${message}${where}`, field || undefined);
}

function allowedValues(issues: ValidationIssue[], instancePath: string): string[] {
  return issues
    .filter((issue) => issue.keyword === 'const' && issue.instancePath === instancePath)
    .map((issue) => String(issue.params.allowedValue));
}

/** ['events', '2', 'payload'] -> 'events[2].payload' */
function toFieldPath(tokens: string[]): string {
  return tokens.reduce((path, token) => {
    if (/^\d+$/.test(token)) return `${path}[${token}]`;
    return path ? `${path}.${token}` : token;
  }, '');
}
