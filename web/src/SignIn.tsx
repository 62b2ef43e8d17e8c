import { Alert, Button, Card, Form, Input, Typography } from 'antd';
import { useState } from 'react';
import { ApiError } from './api';
import { useSession } from './session';

interface SignInValues {
  token: string;
}

/** Asks for a Herald token and keeps it for this tab once Herald accepts it. */
export function SignIn() {
  const { state, signIn } = useSession();
  const [form] = Form.useForm<SignInValues>();
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const notice = state.status === 'signed-out' ? state.notice : undefined;

  const submit = async ({ token }: SignInValues) => {
    setBusy(true);
    setProblem(null);
    try {
      await signIn(token.trim());
    } catch (error) {
      setProblem(refusalText(error));
      form.setFieldValue('token', '');
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="sign-in">
      <Card className="sign-in-card">
        <Typography.Title level={1} className="sign-in-title">
          Herald
        </Typography.Title>
        <Typography.Paragraph type="secondary">
          Sign in with a Herald token (an admin, company or project token) to manage webhooks.
        </Typography.Paragraph>
        {notice && !problem && <Alert type="info" showIcon title={notice} className="block-gap" />}
        {problem && <Alert type="error" showIcon title={problem} className="block-gap" />}
        <Form form={form} name="sign-in" layout="vertical" onFinish={submit} requiredMark={false}>
          <Form.Item
            label="Herald token"
            name="token"
            rules={[{ required: true, whitespace: true, message: 'Enter your Herald token' }]}
            extra="Kept in this browser tab only, until you sign out or close it."
          >
            <Input.Password autoComplete="off" autoFocus spellCheck={false} />
          </Form.Item>
          <Button type="primary" htmlType="submit" loading={busy} block>
            Sign in
          </Button>
        </Form>
      </Card>
    </main>
  );
}

function refusalText(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 401) return 'That token was not accepted. Check it and try again.';
    if (error.status === 403) return `That token was not accepted: ${error.message}.`;
    return error.message;
  }
  return 'Signing in failed. Try again.';
}
