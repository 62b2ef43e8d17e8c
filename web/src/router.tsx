import { createContext, useContext, useEffect, useState, type AnchorHTMLAttributes, type MouseEvent, type ReactNode } from 'react';

/**
 * A very small router over the History API: the console has three pages, so a path string and
 * a `navigate` function are all it needs. Herald answers every one of these paths with the
 * console's page (src/api/web-console.ts), so deep links and reloads work.
 */

export type Route = { page: 'sign-in' } | { page: 'webhooks' } | { page: 'webhook'; id: string } | { page: 'not-found' };

export function parseRoute(pathname: string): Route {
  if (pathname === '/' || pathname === '') return { page: 'webhooks' };
  if (pathname === '/sign-in') return { page: 'sign-in' };
  const detail = /^\/webhooks\/([^/]+)\/?$/.exec(pathname);
  if (detail) return { page: 'webhook', id: decodeURIComponent(detail[1]) };
  return { page: 'not-found' };
}

export const paths = {
  webhooks: () => '/',
  webhook: (id: string) => `/webhooks/${encodeURIComponent(id)}`,
  signIn: () => '/sign-in',
};

interface RouterValue {
  pathname: string;
  navigate(to: string, options?: { replace?: boolean }): void;
}

const RouterContext = createContext<RouterValue | null>(null);

export function RouterProvider({ children }: { children: ReactNode }) {
  const [pathname, setPathname] = useState(() => window.location.pathname);

  useEffect(() => {
    const onPopState = () => setPathname(window.location.pathname);
    window.addEventListener('popstate', onPopState);
    return () => window.removeEventListener('popstate', onPopState);
  }, []);

  const navigate = (to: string, options: { replace?: boolean } = {}) => {
    if (to === window.location.pathname) return;
    if (options.replace) window.history.replaceState(null, '', to);
    else window.history.pushState(null, '', to);
    setPathname(window.location.pathname);
    window.scrollTo(0, 0);
  };

  return <RouterContext.Provider value={{ pathname, navigate }}>{children}</RouterContext.Provider>;
}

export function useRouter(): RouterValue {
  const router = useContext(RouterContext);
  if (!router) throw new Error('useRouter outside RouterProvider');
  return router;
}

/** A real link (it can be opened in a new tab) that navigates in place on a plain click. */
export function Link({ to, children, ...rest }: { to: string; children: ReactNode } & AnchorHTMLAttributes<HTMLAnchorElement>) {
  const { navigate } = useRouter();
  const onClick = (event: MouseEvent<HTMLAnchorElement>) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(to);
  };
  return (
    <a href={to} onClick={onClick} {...rest}>
      {children}
    </a>
  );
}
