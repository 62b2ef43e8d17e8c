import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { ApiError, createApiClient, type ApiClient, type Me } from './api';

/**
 * The signed-in token. It lives in sessionStorage only: it is gone when the tab is closed and
 * is never written anywhere a later visitor of the machine could read it.
 */
const TOKEN_KEY = 'herald.token';

export type SessionState =
  | { status: 'checking' }
  | { status: 'signed-out'; notice?: string }
  | { status: 'signed-in'; me: Me; api: ApiClient };

interface SessionValue {
  state: SessionState;
  /** Checks the token with Herald and keeps it when accepted; throws the refusal otherwise. */
  signIn(token: string): Promise<void>;
  signOut(notice?: string): void;
}

const SessionContext = createContext<SessionValue | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<SessionState>(() =>
    readToken() === null ? { status: 'signed-out' } : { status: 'checking' },
  );

  const signOut = useCallback((notice?: string) => {
    sessionStorage.removeItem(TOKEN_KEY);
    setState({ status: 'signed-out', notice });
  }, []);

  const open = useCallback(
    async (token: string) => {
      const api = createApiClient({
        token,
        onUnauthorized: (error) => signOut(`Signed out: ${error.message}`),
      });
      // A refusal here is for the caller to show; only a token in use signs out by itself.
      const me = await createApiClient({ token }).me();
      if (me.role === 'publisher') {
        throw new ApiError(403, 'forbidden', 'a publisher token can only publish events, not manage webhooks');
      }
      return { me, api };
    },
    [signOut],
  );

  const signIn = useCallback(
    async (token: string) => {
      const session = await open(token);
      sessionStorage.setItem(TOKEN_KEY, token);
      setState({ status: 'signed-in', ...session });
    },
    [open],
  );

  // A token kept from earlier in this tab is checked again: it may have been revoked since.
  useEffect(() => {
    const token = readToken();
    if (token === null) return;
    open(token).then(
      (session) => setState({ status: 'signed-in', ...session }),
      (error: unknown) =>
        error instanceof ApiError && error.status === 0
          ? setState({ status: 'signed-out', notice: error.message })
          : signOut(),
    );
  }, [open, signOut]);

  const value = useMemo(() => ({ state, signIn, signOut }), [state, signIn, signOut]);
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionValue {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside SessionProvider');
  return session;
}

/** For the pages behind sign-in: the token's reach and the client that carries it. */
export function useSignedIn(): { me: Me; api: ApiClient } {
  const { state } = useSession();
  if (state.status !== 'signed-in') throw new Error('useSignedIn before sign-in');
  return state;
}

function readToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}
