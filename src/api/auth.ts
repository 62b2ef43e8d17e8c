import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { HeraldError } from '../core/errors.js';
import { generateToken, newId } from '../core/ids.js';
import type { Store } from '../store/index.js';

export interface Principal {
  tokenId: string;
  role: 'admin';
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal;
  }
}

/** The id the token from HERALD_ADMIN_TOKEN goes by (it has no row in the store). */
const ENV_TOKEN_ID = 'tok_environment';

/** Tokens are stored only as SHA-256 digests: a copy of the database does not grant access. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export class TokenAuthority {
  private readonly envTokenHash: Buffer | null;

  constructor(
    private readonly store: Store,
    envToken: string | null,
  ) {
    this.envTokenHash = envToken === null ? null : Buffer.from(hashToken(envToken), 'hex');
  }

  /**
   * On the first start without HERALD_ADMIN_TOKEN, creates an admin token and returns it so it
   * can be shown once; returns null when a token exists already or one is configured.
   */
  async ensureAdminToken(now: number): Promise<string | null> {
    if (this.envTokenHash !== null || (await this.store.countTokens()) > 0) return null;
    const token = generateToken();
    await this.store.insertToken({
      id: newId('tok'),
      tokenHash: hashToken(token),
      name: 'initial admin token',
      role: 'admin',
      createdAt: now,
    });
    return token;
  }

  async authenticate(request: FastifyRequest): Promise<Principal> {
    const token = bearerToken(request.headers.authorization);
    if (token === null) throw new HeraldError('unauthorized');
    const digest = hashToken(token);
    if (this.envTokenHash !== null && timingSafeEqual(this.envTokenHash, Buffer.from(digest, 'hex'))) {
      return { tokenId: ENV_TOKEN_ID, role: 'admin' };
    }
    const record = await this.store.findTokenByHash(digest);
    if (!record) throw new HeraldError('unauthorized');
    return { tokenId: record.id, role: record.role };
  }
}

function bearerToken(header: string | undefined): string | null {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match ? match[1] : null;
}
