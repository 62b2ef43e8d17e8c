import http from 'node:http';
import net from 'node:net';
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  LOOPBACK_HOST,
  baseUrl,
  createCloser,
  createSocketRegistry,
  listenOnFreePort,
} from './server-lifecycle.js';
import type { SocketRegistry } from './server-lifecycle.js';

export interface SeenProxyRequest {
  kind: 'connect' | 'forward';
  /** 'host:port' for CONNECT, the absolute URL for forwarded requests. */
  target: string;
  method: string;
}

export interface TestProxy {
  url: string;
  port: number;
  /** Every request that reached the proxy, including ones refused for bad credentials. */
  seen: SeenProxyRequest[];
  close(): Promise<void>;
}

export interface ProxyOptions {
  requireAuth?: { username: string; password: string };
}

/** Headers that describe one connection and therefore must not cross the proxy. */
const HOP_BY_HOP_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);
const AUTH_CHALLENGE = 'Basic realm="herald-test-proxy"';

/** Starts a forward proxy that speaks both absolute-form HTTP and CONNECT tunnels. */
export async function startProxy(opts: ProxyOptions = {}): Promise<TestProxy> {
  const seen: SeenProxyRequest[] = [];
  const sockets = createSocketRegistry();
  // A private agent without keep-alive: upstream sockets must not outlive close().
  const upstreamAgent = new http.Agent({ keepAlive: false });
  const isAuthorized = authorizationCheck(opts.requireAuth);
  const server = http.createServer();
  server.on('connection', sockets.add);

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    seen.push({ kind: 'forward', target: req.url ?? '', method: req.method ?? '' });
    if (!isAuthorized(req.headers)) return refuseForward(res);
    forwardRequest(req, res, upstreamAgent);
  });
  server.on('connect', (req: IncomingMessage, clientSocket: Duplex, head: Buffer) => {
    seen.push({ kind: 'connect', target: req.url ?? '', method: req.method ?? 'CONNECT' });
    // The HTTP parser has let go of this socket, including its error handling;
    // a client reset must not become an uncaught exception in the test process.
    clientSocket.on('error', () => clientSocket.destroy());
    if (!isAuthorized(req.headers)) return refuseTunnel(clientSocket);
    openTunnel(req.url ?? '', clientSocket, head, sockets);
  });

  const port = await listenOnFreePort(server, LOOPBACK_HOST);
  const close = createCloser(server, () => {
    sockets.destroyAll();
    upstreamAgent.destroy();
  });
  return { url: baseUrl('http', LOOPBACK_HOST, port), port, seen, close };
}

function authorizationCheck(required: ProxyOptions['requireAuth']): (headers: IncomingHttpHeaders) => boolean {
  if (!required) return () => true;
  const expected = `${required.username}:${required.password}`;
  return (headers) => decodeBasicCredentials(headers['proxy-authorization']) === expected;
}

function decodeBasicCredentials(header: string | undefined): string | undefined {
  const match = /^basic\s+(\S+)\s*$/i.exec(header ?? '');
  return match ? Buffer.from(match[1], 'base64').toString('utf8') : undefined;
}

function refuseForward(res: ServerResponse): void {
  // Closing the connection spares us from draining a body we will never forward.
  res.writeHead(407, { 'proxy-authenticate': AUTH_CHALLENGE, connection: 'close', 'content-length': '0' });
  res.end();
}

function refuseTunnel(clientSocket: Duplex): void {
  clientSocket.end(rawResponse('407 Proxy Authentication Required', [`Proxy-Authenticate: ${AUTH_CHALLENGE}`]));
}

function rawResponse(statusLine: string, extraHeaders: string[] = []): string {
  return [`HTTP/1.1 ${statusLine}`, ...extraHeaders, 'Content-Length: 0', 'Connection: close', '', ''].join('\r\n');
}

function forwardRequest(req: IncomingMessage, res: ServerResponse, agent: http.Agent): void {
  const target = parseAbsoluteHttpUrl(req.url);
  if (!target) {
    res.writeHead(400, { connection: 'close', 'content-type': 'text/plain' });
    res.end('proxy expects an absolute http:// URL');
    return;
  }
  const upstream = http.request({
    agent,
    hostname: target.hostname.replace(/^\[|\]$/g, ''),
    port: target.port || 80,
    path: `${target.pathname}${target.search}`,
    method: req.method,
    headers: withoutHopByHop(req.headers),
  });
  upstream.on('response', (upstreamRes) => {
    res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.statusMessage, withoutHopByHop(upstreamRes.headers));
    upstreamRes.pipe(res);
  });
  upstream.on('error', (error) => failForward(res, error));
  // If the client gives up, stop talking to the upstream on its behalf.
  res.on('close', () => {
    if (!res.writableFinished) upstream.destroy();
  });
  req.pipe(upstream);
}

function parseAbsoluteHttpUrl(raw: string | undefined): URL | undefined {
  try {
    const url = new URL(raw ?? '');
    return url.protocol === 'http:' ? url : undefined;
  } catch {
    return undefined;
  }
}

function failForward(res: ServerResponse, error: Error): void {
  if (res.headersSent) {
    res.destroy(error);
    return;
  }
  res.writeHead(502, { connection: 'close', 'content-type': 'text/plain' });
  res.end(`proxy could not reach upstream: ${error.message}`);
}

/** Drops hop-by-hop headers, including any the sender listed in its Connection header. */
function withoutHopByHop(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const listedInConnection = String(headers.connection ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase());
  const result: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP_HEADERS.has(name) || listedInConnection.includes(name)) continue;
    result[name] = value;
  }
  return result;
}

function openTunnel(authority: string, clientSocket: Duplex, head: Buffer, sockets: SocketRegistry): void {
  const target = parseAuthority(authority);
  if (!target) {
    clientSocket.end(rawResponse('400 Bad Request'));
    return;
  }
  const upstream = net.connect(target.port, target.host);
  sockets.add(upstream);
  let established = false;

  upstream.once('connect', () => {
    established = true;
    clientSocket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    // Bytes the client sent right after the CONNECT line belong to the tunnel.
    if (head.length > 0) upstream.write(head);
    upstream.pipe(clientSocket);
    clientSocket.pipe(upstream);
  });
  upstream.on('error', () => {
    if (established) clientSocket.destroy();
    else clientSocket.end(rawResponse('502 Bad Gateway'));
  });
  clientSocket.on('close', () => upstream.destroy());
}

/** Parses 'host:port' or '[v6]:port'; a tunnel without an explicit port is refused. */
function parseAuthority(authority: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(authority);
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port < 1 || port > 65_535) return undefined;
  return { host: match[1] ?? match[2], port };
}
