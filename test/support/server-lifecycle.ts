import type { AddressInfo, Server, Socket } from 'node:net';

export const LOOPBACK_HOST = '127.0.0.1';

/** Listens on an OS-chosen port so parallel tests never collide; resolves with the port. */
export function listenOnFreePort(server: Server, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Builds a base URL; IPv6 literals need brackets to be valid in a URL. */
export function baseUrl(protocol: 'http' | 'https', host: string, port: number): string {
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return `${protocol}://${urlHost}:${port}`;
}

export interface SocketRegistry {
  add(socket: Socket): void;
  destroyAll(): void;
}

/**
 * Remembers every socket that is still open. `server.close()` alone waits for
 * keep-alive, hanging and tunnelled connections, which would stall a test run.
 */
export function createSocketRegistry(): SocketRegistry {
  const open = new Set<Socket>();
  return {
    add(socket) {
      open.add(socket);
      socket.once('close', () => open.delete(socket));
    },
    destroyAll() {
      for (const socket of open) socket.destroy();
      open.clear();
    },
  };
}

/**
 * Returns an idempotent close function: stop accepting, run `releaseResources`
 * (which must destroy whatever keeps the server busy), then wait for the
 * server to report that it is fully closed.
 */
export function createCloser(server: Server, releaseResources: () => void): () => Promise<void> {
  let closed: Promise<void> | undefined;
  return () => {
    closed ??= new Promise<void>((resolve, reject) => {
      server.close((error) => (error ? reject(error) : resolve()));
      releaseResources();
    });
    return closed;
  };
}
