import { LogoutOutlined } from '@ant-design/icons';
import { Button, Layout, Result, Spin, Typography } from 'antd';
import { useEffect, useRef, useState } from 'react';
import { Link, parseRoute, paths, useRouter } from './router';
import { fitScope, initialScope, storeScope, type ConsoleScope } from './scope';
import { ScopeSwitcher } from './ScopeSwitcher';
import { useSession, useSignedIn } from './session';
import { SignIn } from './SignIn';
import { WebhookDetail } from './WebhookDetail';
import { WebhookList } from './WebhookList';

/** Signed out, every path shows the sign-in page; signed in, the page the path names. */
export function App() {
  const { state } = useSession();
  const { pathname, navigate } = useRouter();
  // Where to go back to after signing in (a deep link, or the page a revoked token was on).
  const returnTo = useRef<string | null>(null);

  useEffect(() => {
    if (state.status === 'signed-out' && pathname !== paths.signIn()) {
      returnTo.current = pathname;
      navigate(paths.signIn(), { replace: true });
    }
    if (state.status === 'signed-in' && pathname === paths.signIn()) {
      navigate(returnTo.current ?? paths.webhooks(), { replace: true });
      returnTo.current = null;
    }
  }, [state.status, pathname, navigate]);

  if (state.status === 'checking') {
    return (
      <div className="center-screen">
        <Spin size="large" description="Checking your token" />
      </div>
    );
  }
  if (state.status === 'signed-out') return <SignIn />;
  return <Console />;
}

function Console() {
  const { me } = useSignedIn();
  const { signOut } = useSession();
  const { pathname } = useRouter();
  const route = parseRoute(pathname);
  const [scope, setScope] = useState<ConsoleScope>(() => initialScope(me));

  const changeScope = (next: ConsoleScope) => {
    const fitted = fitScope(me, next);
    storeScope(fitted);
    setScope(fitted);
  };

  return (
    <Layout className="console">
      <Layout.Header className="console-header">
        <Link to={paths.webhooks()} className="app-name">
          Herald
        </Link>
        <ScopeSwitcher me={me} scope={scope} onChange={changeScope} />
        <div className="header-end">
          <Typography.Text type="secondary" className="token-role">
            {roleText(me.role)}
          </Typography.Text>
          <Button icon={<LogoutOutlined aria-hidden />} onClick={() => signOut()}>
            Sign out
          </Button>
        </div>
      </Layout.Header>
      <Layout.Content className="console-content">
        <main>
          {route.page === 'webhook' ? (
            <WebhookDetail key={route.id} id={route.id} />
          ) : route.page === 'not-found' ? (
            <Result status="404" title="Page not found" extra={<Link to={paths.webhooks()}>Back to webhooks</Link>} />
          ) : (
            <WebhookList scope={scope} />
          )}
        </main>
      </Layout.Content>
    </Layout>
  );
}

function roleText(role: string): string {
  return `${role.charAt(0).toUpperCase()}${role.slice(1)} token`;
}
