import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Principal, Role } from '../core/access.js';
import { HeraldError } from '../core/errors.js';
import { generateToken, newId } from '../core/ids.js';
import type { Store, TokenRecord } from '../store/index.js';

export type { Principal } from '../core/access.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal;
  }
}

/** The id the token from HERALD_ADMIN_TOKEN goes by (it has no row in the store). */
const ENV_TOKEN_ID = 'tok_environment';

/** Tokens are stored only as SHA-256 digests: a copy of the database does not grant access.
 * (A slow hash is not needed: tokens are 256 random bits, not passwords.) */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export interface TokenSpec {
  role: Role;
  tenantId: string | null;
  projectId: string | null;
  name: string | null;
  expiresAt: number | null;
}

export class TokenAuthority {
  private readonly envTokenHash: Buffer | null;

  constructor(
    private readonly store: Store,
    envToken: string | null,
    private readonly clock: () => number = Date.now,
  ) {
    this.envTokenHash = envToken === null ? null : Buffer.from(hashToken(envToken), 'hex');
  }

  /** Creates a token; the returned text is its only copy. */
  async issue(spec: TokenSpec): Promise<{ token: string; record: TokenRecord }> {
    const token = generateToken();
    const record: TokenRecord = { id: newId('tok'), ...spec, createdAt: this.clock(), revokedAt: null };
    await this.store.insertToken({ ...record, tokenHash: hashToken(token) });
    return { token, record };
  }

  /**
   * On the first start without HERALD_ADMIN_TOKEN, creates an admin token and returns it so it
   * can be shown once; returns null when a token exists already or one is configured.
   */
  async ensureAdminToken(): Promise<string | null> {
    if (this.envTokenHash !== null || (await this.store.countTokens()) > 0) return null;
    const { token } = await this.issue({
      role: 'admin',
      tenantId: null,
      projectId: null,
      name: 'initial admin token',
      expiresAt: null,
    });
    return token;
  }

  async authenticate(request: FastifyRequest): Promise<Principal> {
    const token = bearerToken(request.headers.authorization);
    if (token === null) throw new HeraldError('unauthorized');
    const digest = hashToken(token);
    if (this.envTokenHash !== null && timingSafeEqual(this.envTokenHash, Buffer.from(digest, 'hex'))) {
      return { tokenId: ENV_TOKEN_ID, role: 'admin', tenantId: null, projectId: null };
    }
    const record = await this.store.findTokenByHash(digest);
    if (!record) throw new HeraldError('unauthorized');
    if (record.revokedAt !== null) throw new HeraldError('unauthorized', 'This token was revoked');
    if (record.expiresAt !== null && record.expiresAt <= this.clock()) {
      throw new HeraldError('unauthorized', 'This token has expired');
    }
    return { tokenId: record.id, role: record.role, tenantId: record.tenantId, projectId: record.projectId };
  }
}

function bearerToken(header: string | undefined): string | null {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match ? match[1] : null;
}
